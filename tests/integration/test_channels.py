"""Every channel with its real client library (slack-sdk, aiosmtplib, twilio, aiohttp) against the local provider
fakes of tests/fakes; build_targets; and what no rendering may ever contain (secrets)."""

from __future__ import annotations

import json
import string
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.notify import templates
from llm_incident_manager.notify.channels import (
    EmailNotifier,
    PagerDutyNotifier,
    SlackWebApiNotifier,
    SlackWebhookNotifier,
    Target,
    TwilioSmsNotifier,
    TwilioVoiceNotifier,
    WebhookNotifier,
    build_targets,
)
from llm_incident_manager.notify.channels.pagerduty import pagerduty_event
from llm_incident_manager.notify.channels.twilio import voice_twiml
from llm_incident_manager.notify.config import Channel, EventKind, NotificationsConfig, ReceiverConfig
from llm_incident_manager.notify.model import Delivery, DeliveryError, Notifier, PageEvent
from tests.fakes.providers import FakePagerDuty, FakeSlack, FakeTwilio, FakeWebhookReceiver
from tests.fakes.providers import sms_segments as fake_sms_segments
from tests.fakes.smtp import SmtpServer

pytestmark = pytest.mark.timeout(10)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PUBLIC = "https://lim.example"
URL = f"{PUBLIC}/api/v1/incidents/"
ROUTING_KEY = "R" * 32
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# -- builders --------------------------------------------------------------------------------------------------------
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


def page(
    kind: EventKind = EventKind.TRIGGERED,
    inc: Incident | None = None,
    *,
    target: str = "t",
    attempt: int = 1,
    data: dict[str, Any] | None = None,
) -> PageEvent:
    inc = inc or incident()
    return PageEvent(
        id=f"pg_{inc.id}_{kind.value}",
        idempotency_key=f"{inc.id}/{kind.value}/team/{target}",
        kind=kind,
        at=T0,
        incident=inc,
        attempt=attempt,
        data=data
        if data is not None
        else {
            "annotations": {
                "runbook_url": "https://runbooks.example/latency",
                "dashboard_url": "https://grafana.example/d/llm",
                "value": "4.2",
                "threshold": "2",
            }
        },
    )


def delivery(*events: PageEvent, thread_ref: str | None = None, digest: bool = False) -> Delivery:
    return Delivery(
        events=list(events or [page()]), incident_url=URL, thread_ref=thread_ref, digest=digest, public_url=PUBLIC
    )


def receiver(**integrations: Any) -> ReceiverConfig:
    return msgspec.convert({"name": "team", **integrations}, ReceiverConfig)


def notifications(**sections: Any) -> NotificationsConfig:
    return msgspec.convert(sections, NotificationsConfig)


def targets(
    global_: dict[str, Any] | None = None, notif: NotificationsConfig | None = None, **integrations: Any
) -> list[Target]:
    return build_targets(receiver(**integrations), notif or notifications(), global_, timeout=2.0)


@asynccontextmanager
async def closing(notifier: Notifier) -> AsyncIterator[Notifier]:
    try:
        yield notifier
    finally:
        await notifier.close()


def one(
    global_: dict[str, Any] | None = None, notif: NotificationsConfig | None = None, **integrations: Any
) -> Notifier:
    [target] = targets(global_, notif, **integrations)
    return target.notifier


async def fails(notifier: Notifier, d: Delivery) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await notifier.send(d)
    return info.value


# -- Slack, Web API --------------------------------------------------------------------------------------------------
def slack_web(slack: FakeSlack, channel: str = "C0ALERTS", token: str | None = None) -> Notifier:
    return one(
        slack_configs=[
            {
                "api_url": f"{slack.api_url}chat.postMessage",
                "channel": channel,
                "http_config": {"authorization": {"credentials": token or slack.token}},
            }
        ]
    )


def has_buttons(blocks: list[dict[str, Any]] | None) -> bool:
    return any(b["type"] == "actions" for b in blocks or [])


async def test_slack_posts_then_updates_the_root_and_replies_in_its_thread() -> None:
    async with FakeSlack() as slack, closing(slack_web(slack)) as notifier:
        assert isinstance(notifier, SlackWebApiNotifier)
        assert notifier.endpoint == slack.api_url
        assert notifier.recipient == "C0ALERTS"
        sent = await notifier.send(delivery(page()))
        assert sent.ref == sent.thread_ref
        [root] = slack.messages("C0ALERTS")
        assert root.ts == sent.ref
        assert has_buttons(root.blocks)
        assert root.metadata == {
            "event_type": "lim_page",
            "event_payload": {"idempotency_key": "inc_1/triggered/team/t", "incident_id": "inc_1"},
        }

        acked = incident(status=IncidentStatus.ACKNOWLEDGED, acknowledged_by="user:alice")
        ack = await notifier.send(delivery(page(EventKind.ACKNOWLEDGED, acked), thread_ref=sent.thread_ref))
        assert ack.thread_ref == root.ts
        assert ack.ref != root.ts
        assert len(slack.messages("C0ALERTS")) == 1  # updated, not posted again
        assert len(root.edits) == 1
        assert "ACKNOWLEDGED" in root.blocks[0]["text"]["text"]  # type: ignore[index]
        assert has_buttons(root.blocks)  # still open
        [reply] = slack.thread("C0ALERTS", root.ts)
        assert reply.ts == ack.ref
        assert "Acknowledged by user:alice" in (reply.text or "")

        resolved = incident(status=IncidentStatus.RESOLVED, resolved_by="user:bob")
        await notifier.send(delivery(page(EventKind.RESOLVED, resolved), thread_ref=root.ts))
        assert not has_buttons(root.blocks)
        assert [m.text for m in slack.thread("C0ALERTS", root.ts)][-1] == ":white_check_mark: Resolved by user:bob"
        assert len(slack.calls("chat.update")) == 2


async def test_slack_retry_finds_the_message_a_dead_attempt_posted() -> None:
    async with FakeSlack(metadata_requires_flag=True) as slack, closing(slack_web(slack)) as notifier:
        first = await notifier.send(delivery(page()))
        # the worker died before recording the ts: the next attempt must not post again
        again = await notifier.send(delivery(page(attempt=2)))
        assert again.ref == first.ref
        assert again.thread_ref == first.ref
        assert len(slack.calls("chat.postMessage")) == 1
        [history] = slack.calls("conversations.history")
        assert history.params["include_all_metadata"] in (True, "1", "true")

        # the same inside the thread: a reply already posted is found among the replies
        added = page(EventKind.ALERT_ADDED, data={"title": "GPU memory high"})
        reply = await notifier.send(delivery(added, thread_ref=first.ref))
        retried = page(EventKind.ALERT_ADDED, data={"title": "GPU memory high"}, attempt=3)
        again = await notifier.send(delivery(retried, thread_ref=first.ref))
        assert again.ref == reply.ref
        assert len(slack.thread("C0ALERTS", first.ref or "")) == 1

        # a retry whose first attempt never reached Slack posts
        other = page(inc=incident(id="inc_2"), attempt=2)
        posted = await notifier.send(delivery(other))
        assert posted.ref != first.ref
        assert len(slack.messages("C0ALERTS")) == 2


async def test_slack_thread_after_a_restart_and_after_the_root_was_deleted() -> None:
    async with FakeSlack() as slack:
        async with closing(slack_web(slack, channel="#ops")) as before:
            root = await before.send(delivery())
        # a new process: it knows the channel by name only, and chat.update takes ids (Slack answers channel_not_found)
        async with closing(slack_web(slack, channel="#ops")) as after:
            assert isinstance(after, SlackWebApiNotifier)
            assert after.channel_id is None
            slack.fail_next(1, status=200, body={"ok": False, "error": "channel_not_found"})
            acked = incident(status=IncidentStatus.ACKNOWLEDGED)
            sent = await after.send(delivery(page(EventKind.ACKNOWLEDGED, acked), thread_ref=root.thread_ref))
            assert sent.thread_ref == root.thread_ref
            assert len(slack.thread("#ops", root.thread_ref or "")) == 1
            assert len(slack.calls("chat.update")) == 2  # refused by name, done once the reply taught the id
            # the root is gone: a new root takes over the thread
            gone = await after.send(delivery(page(EventKind.REFIRED), thread_ref="1600000000.000100"))
            assert gone.thread_ref is not None
            assert gone.thread_ref == gone.ref
            assert gone.thread_ref != root.thread_ref
            assert len(slack.messages("#ops")) == 2


async def test_slack_coalesced_and_digest_deliveries_are_one_summary() -> None:
    async with FakeSlack() as slack, closing(slack_web(slack)) as notifier:
        events = [page(inc=incident(id=f"inc_{i}", title=f"Problem {i}", severity=Severity.LOW)) for i in range(3)]
        sent = await notifier.send(delivery(*events, digest=True))
        assert sent.thread_ref is None
        [summary] = slack.messages("C0ALERTS")
        assert summary.ts == sent.ref
        text = json.dumps(summary.blocks)
        assert all(f"Problem {i}" in text for i in range(3))
        assert not has_buttons(summary.blocks)
        assert not slack.calls("chat.update")
        assert summary.metadata is not None
        assert summary.metadata["event_payload"]["idempotency_key"].startswith("coalesced_")


async def test_slack_coalesced_events_of_one_incident_keep_its_thread() -> None:
    async with FakeSlack() as slack, closing(slack_web(slack)) as notifier:
        grown = incident(alert_count=4, updated_at=T0.replace(minute=1))
        both = delivery(page(), page(EventKind.ALERT_ADDED, grown, data={"title": "GPU memory high"}))
        sent = await notifier.send(both)
        [root] = slack.messages("C0ALERTS")
        assert sent.thread_ref == root.ts
        assert "*Alerts*\\n4" in json.dumps(root.blocks)  # the newest state (JSON-escaped newline)
        more = delivery(page(EventKind.REFIRED, grown), page(EventKind.SEVERITY_RAISED, grown, data={"to": "critical"}))
        again = await notifier.send(Delivery(**{**msgspec.structs.asdict(more), "thread_ref": root.ts}))
        assert again.thread_ref == root.ts
        [reply] = slack.thread("C0ALERTS", root.ts)
        assert reply.text is not None
        assert "Fired again" in reply.text
        assert "Severity raised to critical" in reply.text


async def test_slack_errors_retryable_or_final() -> None:
    async with FakeSlack() as slack, closing(slack_web(slack)) as notifier:
        slack.fail_next(1, status=429, retry_after=7)
        error = await fails(notifier, delivery())
        assert (error.retryable, error.status, error.retry_after) == (True, 429, 7.0)

        slack.fail_next(1, status=500)
        error = await fails(notifier, delivery())
        assert (error.retryable, error.status) == (True, 500)

        assert not slack.messages("C0ALERTS")
        # Slack's usual shape: HTTP 200 with ok=false (the fake processes a programmed 2xx, then answers it)
        slack.fail_next(1, status=200, body={"ok": False, "error": "ratelimited"})
        assert (await fails(notifier, delivery())).retryable
        slack.fail_next(1, status=200, body={"ok": False, "error": "not_in_channel"})
        assert not (await fails(notifier, delivery())).retryable
    async with FakeSlack() as slack, closing(slack_web(slack, token="xoxb-wrong")) as notifier:
        error = await fails(notifier, delivery())
        assert not error.retryable
        assert "invalid_auth" in error.reason
    async with FakeSlack() as slack, closing(slack_web(slack, channel="C0NOWHERE")) as notifier:
        slack.channels = {"C0ALERTS"}
        error = await fails(notifier, delivery())
        assert not error.retryable
        assert "channel_not_found" in error.reason


async def test_slack_transport_failure_is_retryable() -> None:
    async with FakeSlack() as slack:
        notifier = slack_web(slack)
    async with closing(notifier):
        error = await fails(notifier, delivery())  # the server is gone: connection refused
        assert error.retryable


# -- Slack, incoming webhook -----------------------------------------------------------------------------------------
async def test_slack_incoming_webhook() -> None:
    async with FakeSlack() as slack, closing(one(slack_configs=[{"api_url": slack.webhook_url}])) as notifier:
        assert isinstance(notifier, SlackWebhookNotifier)
        assert "XXXX" not in notifier.recipient  # the URL is a secret
        sent = await notifier.send(delivery())
        assert sent.status == 200
        [post] = slack.webhook_posts
        assert post["text"].startswith(":red_circle: [CRITICAL] p99 latency above SLO")
        assert not has_buttons(post["blocks"])
        assert "<https://runbooks.example/latency|Runbook>" in json.dumps(post["blocks"])

        slack.fail_next(1, status=429, retry_after=3)
        error = await fails(notifier, delivery())
        assert (error.retryable, error.retry_after) == (True, 3.0)
        slack.fail_next(1, status=404, body="no_service")
        assert not (await fails(notifier, delivery())).retryable


# -- email -----------------------------------------------------------------------------------------------------------
def email(smtp: SmtpServer, **overrides: Any) -> Notifier:
    config = {
        "to": "oncall@example.com, ml-team@example.com",
        "from": "LIM <lim@example.com>",
        "smarthost": f"{smtp.host}:{smtp.port}",
        "auth_username": "alerts",
        "auth_password": "s3cret",
        "require_tls": False,
        **overrides,
    }
    return one(email_configs=[config])


async def test_email_text_and_html_through_smtp_with_auth() -> None:
    async with SmtpServer(username="alerts", password="s3cret") as smtp:
        notifier = email(smtp, headers={"X-Team": "ml", "Subject": '{{ template "email.default.subject" . }}'})
        assert isinstance(notifier, EmailNotifier)
        assert notifier.endpoint == f"smtp://{smtp.host}:{smtp.port}"
        sent = await notifier.send(delivery())
        [mail] = await smtp.wait_for_messages(1)
        assert mail.login == "alerts"
        assert sorted(mail.rcpt_tos) == ["ml-team@example.com", "oncall@example.com"]
        assert mail.mail_from == "lim@example.com"
        message = mail.message
        assert message["Subject"] == "[CRIT] p99 latency above SLO (chat-api)"  # the Go template is not ours
        assert message["X-Team"] == "ml"
        assert message["Message-ID"] == sent.ref
        assert message.get_content_type() == "multipart/alternative"
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert plain is not None
        assert html is not None
        assert "LatencyHigh = 4.2 (threshold 2)" in plain.get_content()
        assert 'href="https://runbooks.example/latency"' in html.get_content()

        await notifier.send(delivery())  # a retry of the same page: the same Message-ID
        [_, again] = await smtp.wait_for_messages(2)
        assert again.message["Message-ID"] == message["Message-ID"]


async def test_email_literal_subject_header_wins_and_protected_headers_refused() -> None:
    async with SmtpServer() as smtp:
        notifier = one(
            email_configs=[
                {
                    "to": "a@example.com",
                    "from": "lim@example.com",
                    "smarthost": f"{smtp.host}:{smtp.port}",
                    "require_tls": False,
                    "headers": {"Subject": "Pager"},
                }
            ]
        )
        await notifier.send(delivery())
        [mail] = await smtp.wait_for_messages(1)
        assert mail.message["Subject"] == "Pager"
        with pytest.raises(ValueError, match=r"receivers\[team\]\.email_configs\[0\]\.headers\.To: "):
            email(smtp, headers={"To": "someone-else@example.com"})


async def test_email_smtp_4xx_retryable_5xx_final() -> None:
    async with SmtpServer(username="alerts", password="s3cret") as smtp:
        notifier = email(smtp)
        smtp.fail_next(1, code=451)
        error = await fails(notifier, delivery())
        assert (error.retryable, error.status) == (True, 451)
        smtp.fail_next(1, code=550, stage="RCPT")
        smtp.fail_next(1, code=550, stage="RCPT")
        error = await fails(notifier, delivery())
        assert (error.retryable, error.status) == (False, 550)
        smtp.heal()
        bad = email(smtp, auth_password="wrong")
        assert not (await fails(bad, delivery())).retryable  # 535: authentication failed
        await notifier.send(delivery())
        await smtp.wait_for_messages(1)
        port = smtp.port
    error = await fails(email(smtp, smarthost=f"127.0.0.1:{port}"), delivery())  # nobody listens
    assert error.retryable


async def test_email_digest_of_several_incidents() -> None:
    async with SmtpServer(username="alerts", password="s3cret") as smtp:
        events = [
            page(inc=incident(id="inc_a", title="Cache warmed", severity=Severity.INFO)),
            page(inc=incident(id="inc_b", title="Token throughput dipped", severity=Severity.LOW)),
            page(inc=incident(id="inc_c", title="Eval score drift", severity=Severity.LOW, model="gpt-4o")),
        ]
        await email(smtp).send(delivery(*events, digest=True))
        [mail] = await smtp.wait_for_messages(1)
        assert mail.message["Subject"] == "[Digest] 3 incidents (2 low, 1 info)"
        html = mail.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        for inc_id, title in (("inc_a", "Cache warmed"), ("inc_b", "Token throughput dipped"), ("inc_c", "Eval score")):
            assert f"{URL}{inc_id}" in html
            assert title in html


# -- Twilio ----------------------------------------------------------------------------------------------------------
def twilio_notif(fake: FakeTwilio) -> NotificationsConfig:
    return notifications(
        twilio={
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "from": "+15550000000",
            "api_url": fake.url,
        }
    )


@pytest.mark.parametrize(
    "title",
    [
        "Latency of the llama-3-70b decoder exceeds its SLO on every replica in the cluster " * 4,
        "Латентность выше SLO ✓ " * 12,
    ],
)
async def test_sms_within_two_segments(title: str) -> None:
    async with FakeTwilio() as fake:
        [t1, t2] = targets(notif=twilio_notif(fake), twilio_sms_configs=[{"to": ["+15550001111", "+15550002222"]}])
        assert (t1.key, t2.key) == ("twilio_sms_configs[0]/+15550001111", "twilio_sms_configs[0]/+15550002222")
        async with closing(t1.notifier) as notifier:
            assert isinstance(notifier, TwilioSmsNotifier)
            assert notifier.endpoint == fake.url
            sent = await notifier.send(delivery(page(inc=incident(title=title))))
        [message] = fake.messages()
        assert sent.ref == fake.message_resources[0]["sid"]
        assert message["To"] == "+15550001111"
        assert message["From"] == "+15550000000"
        body = message["Body"]
        assert body.startswith("[CRIT] ")
        assert fake_sms_segments(body) <= 2
        assert templates.sms_segments(body) <= 2
        assert len(body) <= (306 if templates.is_gsm7(body) else 134)


async def test_sms_errors() -> None:
    async with FakeTwilio() as fake:
        [target] = targets(notif=twilio_notif(fake), twilio_sms_configs=[{"to": "+15550001111"}])
        async with closing(target.notifier) as notifier:
            fake.fail_next(1, status=429, retry_after=5)
            error = await fails(notifier, delivery())
            assert (error.retryable, error.status, error.retry_after) == (True, 429, 5.0)
            fake.fail_next(1, status=503)
            assert (await fails(notifier, delivery())).retryable
            fake.fail_next(1, status=400)
            assert not (await fails(notifier, delivery())).retryable
        wrong = notifications(
            twilio={"account_sid": fake.account_sid, "auth_token": "nope", "from": "+15550000000", "api_url": fake.url}
        )
        [target] = targets(notif=wrong, twilio_sms_configs=[{"to": "+15550001111"}])
        async with closing(target.notifier) as notifier:
            error = await fails(notifier, delivery())
            assert (error.retryable, error.status) == (False, 401)


async def test_voice_call_twiml_gathers_one_digit() -> None:
    async with FakeTwilio() as fake:
        [target] = targets(notif=twilio_notif(fake), twilio_voice_configs=[{"to": "+15550003333"}])
        assert target.events == frozenset({EventKind.TRIGGERED})
        async with closing(target.notifier) as notifier:
            assert isinstance(notifier, TwilioVoiceNotifier)
            sent = await notifier.send(delivery())
        [call] = fake.calls()
        assert sent.ref == fake.call_resources[0]["sid"]
        assert call["To"] == "+15550003333"
        status = urlsplit(call["StatusCallback"])
        assert f"{status.scheme}://{status.netloc}{status.path}" == f"{PUBLIC}/api/v1/integrations/twilio/status"
        assert parse_qs(status.query) == {"page": ["pg_inc_1_triggered"]}
        root = ET.fromstring(call["Twiml"])  # noqa: S314 - our own TwiML
        assert root.tag == "Response"
        gather = root.find("Gather")
        assert gather is not None
        assert gather.get("action") == f"{PUBLIC}/api/v1/integrations/twilio/voice?page=pg_inc_1_triggered"
        assert (gather.get("numDigits"), gather.get("method"), gather.get("timeout")) == ("1", "POST", "10")
        say = gather.find("Say")
        assert say is not None
        assert say.text is not None
        assert "Critical incident: p99 latency above SLO." in say.text
        assert "Model llama-3-70b v2 (vllm)." in say.text
        assert say.text.endswith("Press 1 to acknowledge.")
        [goodbye] = root.findall("Say")
        assert goodbye.text == "No input received. Goodbye."


# -- webhooks --------------------------------------------------------------------------------------------------------
async def test_webhook_signed_body_verified_by_the_standardwebhooks_library() -> None:
    async with FakeWebhookReceiver(WHSEC) as hook:
        config = {
            "url": hook.endpoint(),
            "signing_secret": WHSEC,
            "http_config": {"authorization": {"credentials": "tkn"}, "http_headers": {"X-Env": {"values": ["prod"]}}},
        }
        async with closing(one(webhook_configs=[config])) as notifier:
            assert isinstance(notifier, WebhookNotifier)
            sent = await notifier.send(delivery())
            assert sent.status == 200
        [request] = hook.posts()
        assert request.verified, request.verify_error
        assert request.headers["webhook-id"] == "inc_1/triggered/team/t"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "llm-incident-manager"
        assert request.headers["Authorization"] == "Bearer tkn"
        assert request.headers["X-Env"] == "prod"
        body = request.json
        assert body["version"] == "1"
        assert body["events"][0]["type"] == "incident.triggered"
        assert body["events"][0]["incident"]["model"] == "llama-3-70b"


async def test_webhook_coalesced_id_and_unsigned() -> None:
    async with FakeWebhookReceiver() as hook, closing(one(webhook_configs=[{"url": hook.endpoint()}])) as notifier:
        both = delivery(page(), page(EventKind.ACKNOWLEDGED))
        await notifier.send(both)
        [request] = hook.posts()
        webhook_id = request.headers["webhook-id"]
        assert webhook_id == templates.delivery_key(both)
        assert webhook_id.startswith("coalesced_")
        assert len(webhook_id) == len("coalesced_") + 32
        assert "webhook-signature" not in request.headers
        assert [e["type"] for e in request.json["events"]] == ["incident.triggered", "incident.acknowledged"]


async def test_webhook_id_of_a_key_with_dots_still_verifies() -> None:
    event = PageEvent(
        id="pg_9",
        idempotency_key="inc_1/refired:fp1:2026-03-01T12:00:00.123+00:00/team.eu/webhook_configs[0]",
        kind=EventKind.REFIRED,
        at=T0,
        incident=incident(),
    )
    async with FakeWebhookReceiver(WHSEC) as hook:
        async with closing(one(webhook_configs=[{"url": hook.endpoint(), "signing_secret": WHSEC}])) as notifier:
            await notifier.send(delivery(event))
        [request] = hook.posts()
        assert request.verified, request.verify_error
        assert request.headers["webhook-id"] == event.idempotency_key.replace(".", "_")
        assert request.json["events"][0]["idempotency_key"] == event.idempotency_key


async def test_webhook_410_disables_3xx_not_followed_5xx_retryable() -> None:
    async with FakeWebhookReceiver(WHSEC) as hook:
        hook.respond("/gone", 410)
        hook.respond("/moved", 302, location=hook.endpoint("/elsewhere"))
        async with closing(one(webhook_configs=[{"url": hook.endpoint("/gone")}])) as gone:
            error = await fails(gone, delivery())
            assert (error.disable, error.retryable, error.status) == (True, False, 410)
        async with closing(one(webhook_configs=[{"url": hook.endpoint("/moved")}])) as moved:
            error = await fails(moved, delivery())
            assert (error.retryable, error.status) == (False, 302)
        assert not hook.posts("/elsewhere")
        async with closing(one(webhook_configs=[{"url": hook.endpoint()}])) as flaky:
            hook.fail_next(1, status=503)
            error = await fails(flaky, delivery())
            assert (error.retryable, error.disable) == (True, False)
            hook.fail_next(1, status=400)
            assert not (await fails(flaky, delivery())).retryable


async def test_webhook_timeout_is_retryable() -> None:
    async with FakeWebhookReceiver() as hook:
        notifier = one(webhook_configs=[{"url": hook.endpoint(), "timeout": "0.2s"}])
        async with closing(notifier):
            hook.set_delay(1.0)
            error = await fails(notifier, delivery())
            assert error.retryable


# -- PagerDuty -------------------------------------------------------------------------------------------------------
async def test_pagerduty_trigger_acknowledge_resolve_with_dedup_key() -> None:
    async with FakePagerDuty(routing_keys=[ROUTING_KEY]) as pd:
        [target] = targets(pagerduty_configs=[{"routing_key": ROUTING_KEY, "url": pd.enqueue_url}])
        assert target.events == frozenset({EventKind.TRIGGERED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED})
        async with closing(target.notifier) as notifier:
            assert isinstance(notifier, PagerDutyNotifier)
            assert ROUTING_KEY not in notifier.recipient
            sent = await notifier.send(delivery())
            assert (sent.ref, sent.status) == ("inc_1", 202)
            assert pd.state == {"inc_1": "trigger"}
            acked = incident(status=IncidentStatus.ACKNOWLEDGED)
            await notifier.send(delivery(page(EventKind.ACKNOWLEDGED, acked)))
            assert pd.state == {"inc_1": "acknowledge"}
            resolved = incident(status=IncidentStatus.RESOLVED)
            await notifier.send(delivery(page(EventKind.RESOLVED, resolved)))
            assert pd.state == {"inc_1": "resolve"}
        trigger = pd.events[0]
        assert trigger["dedup_key"] == "inc_1"
        payload = trigger["payload"]
        assert payload["severity"] == "critical"
        assert payload["summary"] == "[CRITICAL] p99 latency above SLO"
        assert payload["source"] == "chat-api"
        details = payload["custom_details"]
        assert (details["model"], details["model_version"], details["provider"]) == ("llama-3-70b", "v2", "vllm")
        assert (details["value"], details["threshold"], details["alert_count"]) == ("4.2", "2", 3)
        assert trigger["client"] == "llm-incident-manager"
        assert trigger["client_url"] == f"{URL}inc_1"
        assert {link["href"] for link in trigger["links"]} == {
            f"{URL}inc_1",
            "https://runbooks.example/latency",
            "https://grafana.example/d/llm",
        }
        assert set(pd.events[1]) == {"routing_key", "event_action", "dedup_key"}


@pytest.mark.parametrize(
    ("severity", "expected"), [("high", "error"), ("medium", "warning"), ("low", "info"), ("info", "info")]
)
def test_pagerduty_severity_mapping(severity: str, expected: str) -> None:
    event = page(inc=incident(severity=Severity(severity)))
    assert pagerduty_event(event, ROUTING_KEY, URL)["payload"]["severity"] == expected


async def test_pagerduty_errors() -> None:
    async with FakePagerDuty() as pd:
        async with closing(one(pagerduty_configs=[{"routing_key": ROUTING_KEY, "url": pd.enqueue_url}])) as notifier:
            pd.fail_next(1, status=429, retry_after=2)
            error = await fails(notifier, delivery())
            assert (error.retryable, error.retry_after) == (True, 2.0)
            pd.fail_next(1, status=502)
            assert (await fails(notifier, delivery())).retryable
        async with closing(one(pagerduty_configs=[{"routing_key": "short", "url": pd.enqueue_url}])) as bad:
            error = await fails(bad, delivery())
            assert (error.retryable, error.status) == (False, 400)


# -- build_targets ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("integrations", "global_", "notif", "path"),
    [
        ({"slack_configs": [{"channel": "#ops"}]}, None, {}, r"receivers\[team\]\.slack_configs\[0\]\.api_url: "),
        (
            {"slack_configs": [{"api_url": "https://slack.com/api/chat.postMessage", "channel": "#ops"}]},
            None,
            {},
            r"receivers\[team\]\.slack_configs\[0\]\.api_url: .*bot token",
        ),
        (
            {"slack_configs": [{}]},
            None,
            {"slack": {"bot_token": "xoxb-1"}},
            r"receivers\[team\]\.slack_configs\[0\]\.channel: ",
        ),
        (
            {"email_configs": [{"to": "a@example.com", "from": "l@example.com"}]},
            None,
            {},
            r"email_configs\[0\]\.smarthost: ",
        ),
        ({"email_configs": [{"to": "a@example.com", "smarthost": "mx:25"}]}, None, {}, r"email_configs\[0\]\.from: "),
        (
            {"email_configs": [{"to": "a@example.com"}]},
            {"smtp_smarthost": "mx", "smtp_from": "l@example.com"},
            {},
            r"email_configs\[0\]\.smarthost: 'mx' is not host:port",
        ),
        ({"twilio_sms_configs": [{"to": "+15550001111"}]}, None, {}, r"twilio_sms_configs\[0\]\.account_sid: "),
        (
            {"twilio_voice_configs": [{"to": "+15550001111", "account_sid": "AC1", "auth_token": "x"}]},
            None,
            {},
            r"receivers\[team\]\.twilio_voice_configs\[0\]\.from: ",
        ),
        (
            {"pagerduty_configs": [{"service_key": "abc"}]},
            None,
            {},
            r"receivers\[team\]\.pagerduty_configs\[0\]\.service_key: ",
        ),
        ({"webhook_configs": [{"url": "ftp://x"}]}, None, {}, r"receivers\[team\]\.webhook_configs\[0\]\.url: "),
        (
            {"webhook_configs": [{"url": "https://x", "http_config": {"tls_config": {"ca_file": "/nonexistent/ca"}}}]},
            None,
            {},
            r"receivers\[team\]\.webhook_configs\[0\]\.http_config: ",
        ),
    ],
)
def test_build_targets_errors_name_the_key(
    integrations: dict[str, Any], global_: dict[str, Any] | None, notif: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValueError, match=path):
        targets(global_, notifications(**notif), **integrations)


def test_build_targets_applies_alertmanager_globals(tmp_path: Any) -> None:
    secret = tmp_path / "smtp_password"
    secret.write_text("from-file\n")
    global_ = {
        "slack_api_url": "https://hooks.slack.com/services/T1/B1/XYZ",
        "smtp_smarthost": "mx.example.com:587",
        "smtp_from": "am@example.com",
        "smtp_hello": "am.example.com",
        "smtp_auth_username": "am",
        "smtp_auth_password_file": str(secret),
        "pagerduty_url": "https://pd.example/v2/enqueue",
    }
    found = targets(
        global_,
        slack_configs=[{"channel": "#ops"}],
        email_configs=[{"to": "a@example.com"}, {"to": "b@example.com", "require_tls": False, "send_resolved": True}],
        pagerduty_configs=[{"routing_key": ROUTING_KEY}],
    )
    slack, mail, mail_resolved, pd = (t.notifier for t in found)
    assert isinstance(slack, SlackWebhookNotifier)
    assert slack.url == "https://hooks.slack.com/services/T1/B1/XYZ"
    assert slack.recipient == "#ops"
    assert found[0].events == frozenset({EventKind.TRIGGERED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED})
    assert isinstance(mail, EmailNotifier)
    assert (mail.host, mail.port, mail.sender, mail.hello) == (
        "mx.example.com",
        587,
        "am@example.com",
        "am.example.com",
    )
    assert (mail.username, mail.password, mail.require_tls) == ("am", "from-file", True)
    assert found[1].events == frozenset({EventKind.TRIGGERED})
    assert isinstance(mail_resolved, EmailNotifier)
    assert mail_resolved.require_tls is False
    assert found[2].events == frozenset({EventKind.TRIGGERED, EventKind.RESOLVED})
    assert isinstance(pd, PagerDutyNotifier)
    assert pd.url == "https://pd.example/v2/enqueue"
    assert [t.key for t in found] == [
        "slack_configs[0]",
        "email_configs[0]",
        "email_configs[1]",
        "pagerduty_configs[0]",
    ]
    assert [t.channel for t in found] == [Channel.SLACK, Channel.EMAIL, Channel.EMAIL, Channel.PAGERDUTY]


def test_build_targets_modes_and_events() -> None:
    notif = notifications(
        slack={"bot_token": "xoxb-app", "api_url": "https://slack.example/api/"},
        twilio={"account_sid": "AC1", "auth_token": "t", "from": "+15550000000"},
    )
    found = targets(
        {"smtp_require_tls": False},
        notif,
        slack_configs=[
            {"channel": "C0OPS"},
            {"channel": "C0ML", "api_url": "https://gov.slack.example/api/chat.postMessage", "send_resolved": False},
            {"channel": "#x", "events": ["triggered"], "throttle": {"messages": 2, "per": "1m"}},
        ],
        email_configs=[{"to": "a@example.com", "from": "l@example.com", "smarthost": "mx:465"}],
        webhook_configs=[{"url": "https://hooks.example/x?token=abc", "send_resolved": False}],
        twilio_sms_configs=[{"to": "+15550001111", "send_resolved": True}],
        twilio_voice_configs=[{"to": "+15550002222"}],
        pagerduty_configs=[{"routing_key": ROUTING_KEY, "digest": {"interval": "10m"}}],
    )
    web, gov, limited, mail, hook, pd, sms, voice = found
    assert isinstance(web.notifier, SlackWebApiNotifier)
    assert web.notifier.endpoint == "https://slack.example/api/"
    assert web.events == frozenset(EventKind)
    assert isinstance(gov.notifier, SlackWebApiNotifier)
    assert gov.notifier.endpoint == "https://gov.slack.example/api/"
    assert gov.events == frozenset(EventKind) - {EventKind.RESOLVED}
    assert limited.events == frozenset({EventKind.TRIGGERED})
    assert limited.throttle is not None
    assert limited.throttle.messages == 2
    assert isinstance(mail.notifier, EmailNotifier)
    assert mail.notifier.implicit_tls
    assert hook.events == frozenset(EventKind) - {EventKind.RESOLVED}
    assert hook.notifier.recipient == "https://hooks.example/x"
    assert hook.notifier.endpoint == "https://hooks.example"
    assert sms.events == frozenset({EventKind.TRIGGERED, EventKind.RESOLVED})
    assert voice.events == frozenset({EventKind.TRIGGERED})
    assert pd.digest is not None
    assert pd.throttle is None


# -- secrets, in every rendering -------------------------------------------------------------------------------------
SECRET_WORDS = ["secret", "token", "password", "passwd", "api_key", "api-key", "apikey", "Authorization", "credential",
                "private_key", "cookie", "session", "SECRET", "AccessToken", "PrivateKey"]  # fmt: skip
ALNUM = string.ascii_letters + string.digits

secret_names = st.builds(
    lambda pre, word, post: f"{pre}{word}{post}",
    st.text(alphabet=string.ascii_lowercase + "_", max_size=5),
    st.sampled_from(SECRET_WORDS),
    st.text(alphabet=string.ascii_lowercase + "_-", max_size=5),
)
secret_values = st.text(alphabet=ALNUM, min_size=16, max_size=40)
token_like = st.one_of(
    st.builds(lambda p, s: p + s, st.sampled_from(["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-1-"]),
              st.text(alphabet=ALNUM + "-", min_size=16, max_size=40)),
    st.builds(lambda p, s: p + s, st.sampled_from(["sk-", "sk-proj-", "sk-ant-api03-"]),
              st.text(alphabet=ALNUM, min_size=20, max_size=48)),
    st.builds(lambda s: "whsec_" + s, st.text(alphabet=ALNUM + "+/", min_size=24, max_size=44)),
    st.builds(lambda s: "AKIA" + s, st.text(alphabet=string.ascii_uppercase + string.digits, min_size=16, max_size=16)),
    st.builds(lambda s: "ghp_" + s, st.text(alphabet=ALNUM, min_size=36, max_size=36)),
    st.builds(lambda s: "hf_" + s, st.text(alphabet=ALNUM, min_size=34, max_size=34)),
)  # fmt: skip


def renderings(d: Delivery) -> Iterator[str]:
    yield json.dumps(templates.slack_message(d).blocks, ensure_ascii=False)
    yield templates.slack_message(d).text
    yield templates.slack_follow_up(d)
    yield json.dumps(templates.slack_summary(d).blocks, ensure_ascii=False)
    parts = templates.email_message(d)
    yield parts.subject
    yield parts.text
    yield parts.html
    digest = templates.email_digest(d)
    yield digest.text + digest.html
    yield templates.sms_text(d)
    yield templates.voice_speech(d)
    yield voice_twiml(d)
    yield templates.webhook_body(d).decode()
    yield json.dumps([pagerduty_event(e, ROUTING_KEY, URL) for e in d.events], ensure_ascii=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret_labels=st.dictionaries(secret_names, secret_values, min_size=1, max_size=4),
    tokens=st.lists(token_like, min_size=1, max_size=4),
    kind=st.sampled_from(list(EventKind)),
)
def test_no_rendering_ever_holds_a_secret(secret_labels: dict[str, str], tokens: list[str], kind: EventKind) -> None:
    first = tokens[0]
    labels = {"team": "ml", "note": f"see {first}", **secret_labels}
    labels.update({f"plain_{i}": token for i, token in enumerate(tokens)})
    inc = incident(
        labels=labels,
        title=f"Auth failing with {first}",
        description=f"Header was Bearer {tokens[-1]}",
        model=tokens[-1],
        acknowledged_by=first,
        resolved_by=first,
    )
    data = {
        "actor": first,
        "title": f"alert {first}",
        "annotations": {
            **secret_labels,
            "summary": f"key {first}",
            "runbook_url": f"https://rb.example/?token={first}",
        },
        **{f"extra_{k}": v for k, v in secret_labels.items()},
    }
    d = delivery(
        page(kind, inc, data=data), page(EventKind.ALERT_ADDED, incident(id="inc_2", labels=labels), data=data)
    )
    single = delivery(page(kind, inc, data=data))
    for rendered in (*renderings(d), *renderings(single)):
        for value in (*secret_labels.values(), *tokens):
            assert value not in rendered


def test_renderings_carry_model_version_metric_and_links() -> None:
    d = delivery()
    for name, rendered in zip(
        ("slack", "email text", "email html", "webhook", "pagerduty"),
        (
            json.dumps(templates.slack_message(d).blocks),
            templates.email_message(d).text,
            templates.email_message(d).html,
            templates.webhook_body(d).decode(),
            json.dumps(pagerduty_event(d.events[0], ROUTING_KEY, URL)),
        ),
        strict=True,
    ):
        for expected in ("llama-3-70b", "v2", "4.2", "https://runbooks.example/latency"):
            assert expected in rendered, (name, expected)
        if name != "webhook":
            assert f"{URL}inc_1" in rendered, name
    text = templates.email_message(d).text
    assert "threshold 2" in text
    assert "https://grafana.example/d/llm" in text
