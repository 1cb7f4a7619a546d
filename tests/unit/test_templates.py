"""notify/templates: what each channel says, per severity, and what it never says (secrets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.notify import templates as t
from llm_incident_manager.notify.config import EventKind
from llm_incident_manager.notify.model import Delivery, PageEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://lim.example/api/v1/incidents/"


def incident(**overrides: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": "inc_1",
        "status": IncidentStatus.TRIGGERED,
        "severity": Severity.CRITICAL,
        "title": "p99 latency above SLO",
        "source": "alertmanager",
        "created_at": T0,
        "updated_at": T0,
        "last_seen_at": T0,
        "alert_count": 3,
        "fingerprint": "fp1",
        "service": "chat-api",
        "model": "llama-3-70b",
        "model_version": "v2",
        "provider": "vllm",
        "env": "prod",
        "region": "eu-west-1",
        "labels": {"alertname": "LatencyHigh", "team": "ml"},
    }
    fields.update(overrides)
    return Incident(**fields)


def page(kind: EventKind = EventKind.TRIGGERED, inc: Incident | None = None, **overrides: Any) -> PageEvent:
    inc = inc or incident()
    fields: dict[str, Any] = {
        "id": f"pg_{inc.id}_{kind.value}",
        "idempotency_key": f"{inc.id}/{kind.value}/team/slack_configs[0]",
        "kind": kind,
        "at": T0,
        "incident": inc,
        "data": {
            "annotations": {
                "runbook_url": "https://runbooks.example/latency",
                "dashboard_url": "https://grafana.example/d/llm",
                "value": "4.2",
                "threshold": "2",
            }
        },
    }
    fields.update(overrides)
    return PageEvent(**fields)


def delivery(*events: PageEvent, digest: bool = False) -> Delivery:
    return Delivery(events=list(events or [page()]), incident_url=URL, digest=digest, public_url="https://lim.example")


# -- content ---------------------------------------------------------------------------------------------------------
def test_slack_message_carries_the_facts_links_and_buttons() -> None:
    message = t.slack_message(delivery())
    blocks = message.blocks
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == ":red_circle: [CRITICAL] p99 latency above SLO"
    fields = " ".join(f["text"] for f in blocks[1]["fields"])
    for expected in (
        "triggered",
        "chat-api",
        "llama-3-70b v2 (vllm)",
        "prod / eu-west-1",
        "LatencyHigh = 4.2 (threshold 2)",
    ):
        assert expected in fields
    assert "*Alerts*\n3" in fields
    links = json.dumps(blocks)
    assert "<https://runbooks.example/latency|Runbook>" in links
    assert "<https://grafana.example/d/llm|Dashboard>" in links
    assert f"<{URL}inc_1|Incident inc_1>" in links
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("lim_ack", "inc_1"),
        ("lim_resolve", "inc_1"),
    ]
    assert message.text.startswith(":red_circle: [CRITICAL] p99 latency above SLO")


def test_slack_buttons_only_until_resolved_and_not_for_webhooks() -> None:
    acked = incident(status=IncidentStatus.ACKNOWLEDGED, acknowledged_by="alice")
    assert any(b["type"] == "actions" for b in t.slack_message(delivery(page(EventKind.ACKNOWLEDGED, acked))).blocks)
    resolved = incident(status=IncidentStatus.RESOLVED, resolved_by="bob")
    blocks = t.slack_message(delivery(page(EventKind.RESOLVED, resolved))).blocks
    assert not any(b["type"] == "actions" for b in blocks)
    assert blocks[0]["text"]["text"].startswith(":white_check_mark: [CRITICAL · RESOLVED]")
    assert not any(b["type"] == "actions" for b in t.slack_message(delivery(), buttons=False).blocks)


@pytest.mark.parametrize(
    ("severity", "emoji", "tag"),
    [
        (Severity.CRITICAL, ":red_circle:", "[CRIT]"),
        (Severity.HIGH, ":large_orange_circle:", "[HIGH]"),
        (Severity.MEDIUM, ":large_yellow_circle:", "[MED]"),
        (Severity.LOW, ":large_blue_circle:", "[LOW]"),
        (Severity.INFO, ":white_circle:", "[INFO]"),
    ],
)
def test_each_severity_has_its_own_style(severity: Severity, emoji: str, tag: str) -> None:
    d = delivery(page(inc=incident(severity=severity)))
    assert t.slack_message(d).blocks[0]["text"]["text"].startswith(emoji)
    assert t.sms_text(d).startswith(tag + " ")
    assert t.email_message(d).subject.startswith(tag + " ")
    assert t.STYLES[severity].colour in t.email_message(d).html
    assert t.voice_speech(d).startswith(t.STYLES[severity].spoken + " incident")


@pytest.mark.parametrize(
    ("kind", "data", "inc_fields", "expected"),
    [
        (
            EventKind.ALERT_ADDED,
            {"title": "GPU memory high"},
            {"alert_count": 4},
            "Alert added: GPU memory high (4 alerts)",
        ),
        (EventKind.SEVERITY_RAISED, {"from": "high", "to": "critical"}, {}, "Severity raised from high to critical"),
        (EventKind.ACKNOWLEDGED, {"actor": "user:alice"}, {}, "Acknowledged by user:alice"),
        (EventKind.RESOLVED, {}, {"resolved_by": "slack:U123"}, "Resolved by slack:U123"),
        (EventKind.REFIRED, {"title": "p99 latency above SLO"}, {}, "Fired again: p99 latency above SLO"),
    ],
)
def test_thread_follow_up_per_event_kind(
    kind: EventKind, data: dict[str, Any], inc_fields: dict[str, Any], expected: str
) -> None:
    line = t.slack_follow_up(delivery(page(kind, incident(**inc_fields), data=data)))
    assert expected in line


def test_email_text_and_html_with_html_escaped() -> None:
    inc = incident(title="<script>alert(1)</script> & co", description="a < b")
    parts = t.email_message(delivery(page(inc=inc)))
    assert parts.subject == "[CRIT] <script>alert(1)</script> & co (chat-api)"
    assert "<script>" not in parts.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in parts.html
    assert "a &lt; b" in parts.html
    assert "<script>alert(1)</script> & co" in parts.text
    assert "Runbook:" in parts.text
    assert 'href="https://runbooks.example/latency"' in parts.html
    resolved = t.email_message(delivery(page(EventKind.RESOLVED, incident(status=IncidentStatus.RESOLVED))))
    assert resolved.subject.startswith("[CRIT] Resolved: ")


def test_digest_lists_every_incident_most_severe_first() -> None:
    events = [
        page(inc=incident(id="inc_a", severity=Severity.LOW, title="Token throughput dipped")),
        page(inc=incident(id="inc_b", severity=Severity.INFO, title="Cache warmed")),
        page(inc=incident(id="inc_c", severity=Severity.HIGH, title="Queue depth rising")),
    ]
    d = delivery(*events, digest=True)
    parts = t.email_message(d)
    assert parts.subject == "[Digest] 3 incidents (1 high, 1 low, 1 info)"
    text = parts.text
    assert text.index("Queue depth rising") < text.index("Token throughput dipped") < text.index("Cache warmed")
    for inc_id in ("inc_a", "inc_b", "inc_c"):
        assert f"{URL}{inc_id}" in parts.html
    slack = t.slack_summary(d)
    assert slack.blocks[0]["text"]["text"].startswith(":bell: Digest: 3 incidents")
    assert sum(1 for b in slack.blocks if b["type"] == "section") == 3
    assert not any(b["type"] == "actions" for b in slack.blocks)


# -- SMS -------------------------------------------------------------------------------------------------------------
def test_gsm7_charset_and_segment_arithmetic() -> None:
    assert t.is_gsm7("Hello @ £ € [x]")
    assert not t.is_gsm7("Hello ✓")
    assert not t.is_gsm7("…")
    assert t.sms_segments("a" * 160) == 1
    assert t.sms_segments("a" * 161) == 2
    assert t.sms_segments("a" * 306) == 2
    assert t.sms_segments("a" * 307) == 3
    assert t.sms_segments("€" * 80) == 1  # 160 septets: the extension table counts twice
    assert t.sms_segments("€" * 81) == 2
    assert t.sms_segments("✓" * 70) == 1
    assert t.sms_segments("✓" * 71) == 2
    assert t.sms_segments("✓" * 134) == 2
    assert t.sms_segments("✓" * 135) == 3
    # a two-septet character never straddles two segments: 152 + "€" needs a second segment's room
    assert t.sms_segments("a" * 152 + "€" + "a" * 152) == 3


@pytest.mark.parametrize("title", ["Latency " * 60, "Латентность выше SLO " * 20, "GPU 🔥 " * 40])
def test_sms_fits_two_segments_whatever_the_title(title: str) -> None:
    text = t.sms_text(delivery(page(inc=incident(title=title))))
    assert t.sms_segments(text) <= 2
    assert text.startswith("[CRIT] ")
    assert text.endswith(URL + "inc_1")
    assert ("..." in text) if t.is_gsm7(text) else ("…" in text)


def test_sms_short_stays_whole() -> None:
    text = t.sms_text(delivery(page(inc=incident(title="OOM"))))
    assert text == f"[CRIT] OOM | chat-api | llama-3-70b v2 (vllm) | LatencyHigh = 4.2 (threshold 2) {URL}inc_1"
    assert t.is_gsm7(text)


# -- voice, webhook --------------------------------------------------------------------------------------------------
def test_voice_speech_is_plain_words() -> None:
    speech = t.voice_speech(delivery())
    assert speech == (
        "Critical incident: p99 latency above SLO. Service chat-api. Model llama-3-70b v2 (vllm). "
        "Press 1 to acknowledge."
    )
    assert "http" not in speech


def test_webhook_body_schema_v1() -> None:
    d = delivery(page(attempt=2))
    body = json.loads(t.webhook_body(d))
    assert body["version"] == "1"
    assert body["digest"] is False
    [event] = body["events"]
    assert event["type"] == "incident.triggered"
    assert event["id"] == "pg_inc_1_triggered"
    assert event["idempotency_key"] == "inc_1/triggered/team/slack_configs[0]"
    assert event["attempt"] == 2
    assert event["at"] == "2026-03-01T12:00:00+00:00"
    assert set(msgspec.structs.asdict(incident())) <= set(event["incident"])
    assert event["incident"]["model_version"] == "v2"
    assert event["data"]["annotations"]["threshold"] == "2"


def test_delivery_key_single_and_coalesced() -> None:
    one = page()
    assert t.delivery_key(delivery(one)) == one.idempotency_key
    two = page(EventKind.ACKNOWLEDGED)
    key = t.delivery_key(delivery(one, two))
    assert key.startswith("coalesced_")
    assert len(key) == len("coalesced_") + 32
    assert key == t.delivery_key(delivery(two, one))


# -- secrets ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "secret",
    [
        "xoxb-1234567890-abcdefghij",
        "xoxp-1234-5678-abcdef",
        "sk-proj-abcdefghijklmnop1234",
        "sk-ant-api03-abcdefghijklmnop",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_scrub_masks_credentials(secret: str) -> None:
    assert secret not in t.scrub(f"failed with {secret} today")
    assert "[redacted]" in t.scrub(secret)


def test_scrub_keeps_ordinary_llm_text() -> None:
    for text in ("max_tokens=4096 exceeded", "task-queue backlog", "tokens/s dropped", "session count 12"):
        assert t.scrub(text) == text
    assert t.scrub("Authorization: Basic dXNlcjpwYXNz") == "Authorization: [redacted]"
    assert t.scrub("Bearer abc.def.ghi123") == "Bearer [redacted]"
    assert (
        t.scrub("https://user:hunter2@db.example/x?token=abc&x=1")
        == "https://[redacted]@db.example/x?token=[redacted]&x=1"
    )
    assert t.scrub("password=hunter2, user=bob") == "password=[redacted], user=bob"


def test_secret_labels_are_dropped_everywhere() -> None:
    inc = incident(
        labels={"team": "ml", "db_password": "hunter2hunter2", "X-Api-Key": "k3yk3yk3y", "Cookie": "c00kie!"}
    )
    d = delivery(page(inc=inc, data={"annotations": {"session_id": "s3ss10n", "summary": "ok"}}))
    rendered = json.dumps(t.slack_message(d).blocks) + t.email_message(d).html + t.email_message(d).text
    rendered += t.webhook_body(d).decode() + t.sms_text(d) + t.voice_speech(d)
    for value in ("hunter2hunter2", "k3yk3yk3y", "c00kie!", "s3ss10n"):
        assert value not in rendered
    assert "team=ml" in t.email_message(d).text
