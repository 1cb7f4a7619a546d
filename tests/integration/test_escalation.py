"""Escalation end to end in seconds: the real service, SMS through the twilio library to the local Twilio fake,
the durable timers in the store. Level 1 pages at once; nobody acknowledges → level 2; acknowledge → the timer
stops; the ack timeout brings the incident back; the policy stops after its repeats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from llm_incident_manager.configfile import FileConfig, parse_config
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.services import Services
from tests.fakes.providers import FakeTwilio
from tests.integration.notify_helpers import FAST, alert, eventually, ingest, pages, service, timeline, unique

ANA, BEN = "+15550001111", "+15550002222"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def _config(twilio: FakeTwilio, **policy: Any) -> FileConfig:
    return parse_config(yaml.safe_dump(_doc(twilio, **policy)), "test")


def _doc(twilio: FakeTwilio, **policy: Any) -> dict[str, Any]:
    return {
        "route": {"receiver": "oncall"},
        "users": [{"name": "ana", "phone": ANA}, {"name": "ben", "phone": BEN}],
        "schedules": [{"name": "primary", "layers": [{"rotation": "daily", "users": ["ana"]}]}],
        "escalation_policies": [{
            "name": "gpu", "repeat": 2,
            "levels": [
                {"targets": [{"schedule": "primary"}], "via": ["sms"], "escalate_after": "0.5s"},
                {"targets": [{"user": "ben"}], "via": ["sms"], "escalate_after": "0.5s"},
            ],
            **policy,
        }],
        "receivers": [{"name": "oncall", "escalation_policy": "gpu"}],
        "notifications": {
            "delivery": {**FAST, "throttle": {}},
            "twilio": {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token, "from": "+15559990000",
                       "api_url": twilio.url},
        },
    }  # fmt: skip


def _sms_to(twilio: FakeTwilio) -> list[str]:
    return [m["To"] for m in twilio.messages()]


async def _escalation(services: Services, incident_id: str) -> EscalationRecord:
    [row] = await services.store.list_escalations(incident_id)
    return row


async def test_nobody_answers_level_two_then_acknowledge_stops_it(database_url: str, twilio: FakeTwilio) -> None:
    async with service(database_url, _config(twilio)) as services:
        [result] = await ingest(services, alert(unique("GPUDown")))
        incident_id = result.incident_id
        assert incident_id is not None
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA])  # level 1: whoever is on call, at once
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA, BEN], timeout=5)  # no ack: level 2
        await services.responder.acknowledge(incident_id, "user:ben", _now())
        row = await eventually(lambda: _state(services, incident_id, "acknowledged"), what="the timer stopped")
        assert row.next_at is None  # no ack timeout: nothing more is due, ever
        kinds = [e.kind for e in await timeline(services, incident_id)]
        assert kinds.count("escalation_started") == 1
        assert kinds.count("escalated") == 1
        assert _sms_to(twilio) == [ANA, BEN]


async def test_the_policy_stops_after_its_repeats(database_url: str, twilio: FakeTwilio) -> None:
    async with service(database_url, _config(twilio, repeat=1)) as services:
        [result] = await ingest(services, alert(unique("QualityDrop")))
        incident_id = result.incident_id
        assert incident_id is not None
        await eventually(lambda: _state(services, incident_id, "done"), timeout=5, what="the policy exhausted")
        kinds = [e.kind for e in await timeline(services, incident_id)]
        assert "escalation_exhausted" in kinds
        await twilio.wait_for(lambda r: len(twilio.messages()) >= 2)
        assert _sms_to(twilio) == [ANA, BEN]


async def test_the_ack_timeout_brings_the_incident_back(database_url: str, twilio: FakeTwilio) -> None:
    async with service(database_url, _config(twilio, ack_timeout="0.5s")) as services:
        [result] = await ingest(services, alert(unique("TokenSpike")))
        incident_id = result.incident_id
        assert incident_id is not None
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA])
        await services.responder.acknowledge(incident_id, "user:ana", _now())
        await eventually(lambda: _status(services, incident_id, "triggered"), timeout=5, what="back to triggered")
        await twilio.wait_for(lambda r: _sms_to(twilio)[:2] == [ANA, ANA], timeout=5)  # the same level again
        kinds = [e.kind for e in await timeline(services, incident_id)]
        assert "ack_timeout" in kinds
        await services.responder.resolve(incident_id, "user:ana", _now())
        await eventually(lambda: _state(services, incident_id, "done"), what="resolve ends it")


async def _state(services: Services, incident_id: str, state: str) -> EscalationRecord | None:
    row = await _escalation(services, incident_id)
    return row if row.state == state else None


async def _status(services: Services, incident_id: str, status: str) -> bool:
    incident = await services.reader.get_incident(incident_id)
    return incident is not None and incident.status.value == status


def _now() -> datetime:
    return datetime.now(UTC)


async def test_schedule_api_oncall_shifts_and_calendar(database_url: str, twilio: FakeTwilio, tmp_path: Any) -> None:
    from icalendar import Calendar

    from tests.integration.conftest import make_settings, running

    path = tmp_path / "lim.yaml"
    doc = _doc(twilio)
    doc["schedules"].append({"name": "sun", "preset": "follow_the_sun",
                             "regions": {"apac": ["ana"], "emea": ["ben"], "amer": ["ana"]}})  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    async with running(make_settings(database_url, config_path=str(path))) as api:
        at = "2026-03-02T10:00:00Z"
        found = (await api.get("/api/v1/schedules/sun/oncall", params={"at": at}, role="viewer")).json()
        assert found["oncall"]["user"] == "ben"
        day = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
        shifts = (await api.get("/api/v1/schedules/sun/shifts", params=day)).json()
        assert [(s["user"], s["start"][11:16]) for s in shifts["shifts"]] == [
            ("ana", "00:00"), ("ben", "08:00"), ("ana", "16:00")
        ]  # fmt: skip
        ics = await api.get("/api/v1/schedules/sun/ics", params={"from": "2026-03-02T00:00:00Z",
                                                                   "to": "2026-03-03T00:00:00Z"})  # fmt: skip
        assert ics.headers["content-type"].startswith("text/calendar")
        events = [c for c in Calendar.from_ical(ics.content).walk() if c.name == "VEVENT"]
        assert len(events) == 3
        assert (await api.get("/api/v1/schedules/nope/oncall")).status_code == 404
        bad = await api.get("/api/v1/schedules/sun/shifts", params={"from": "2026-03-02T00:00:00"})
        assert bad.status_code == 400
        assert "from" in bad.text
        assert (await api.get("/api/v1/users", role="viewer")).status_code == 403  # phone numbers are personal
        users = (await api.get("/api/v1/users")).json()
        assert [u["name"] for u in users] == ["ana", "ben"]
        assert [p["name"] for p in (await api.get("/api/v1/escalation-policies")).json()] == ["gpu"]


@pytest.mark.postgres
async def test_two_instances_take_each_step_once(pg_url: str, twilio: FakeTwilio) -> None:
    """Two instances on one PostgreSQL: both workers poll the same due rows; each step is taken by one of them
    (FOR UPDATE SKIP LOCKED) and its pages are keyed, so every person gets one SMS per step."""
    url = pg_url
    cfg = _config(twilio, repeat=1)
    async with service(url, cfg) as a, service(url, cfg) as b:
        results = [(await ingest(a if i % 2 else b, alert(unique("Pair"), service=unique("svc"))))[0] for i in range(4)]
        for r in results:
            assert r.incident_id is not None
            await eventually(lambda r=r: _state(a, r.incident_id or "", "done"), timeout=10, what="every policy ran")
        assert sorted(_sms_to(twilio)) == sorted([ANA] * 4 + [BEN] * 4)
        steps = [e for r in results for e in await timeline(a, r.incident_id or "") if e.kind == "escalated"]
        assert len(steps) == 4


def _rules_config(twilio: FakeTwilio) -> FileConfig:
    doc = _doc(twilio)
    doc["users"][0]["notification_rules"] = [{"via": "sms"}, {"via": "voice", "after": "0.7s"}]
    doc["escalation_policies"][0]["levels"] = [{"targets": [{"user": "ana"}], "escalate_after": "1h"}]
    return parse_config(yaml.safe_dump(doc), "test")


async def test_notification_rules_sms_now_voice_later_unless_acknowledged(
    database_url: str, twilio: FakeTwilio
) -> None:
    async with service(database_url, _rules_config(twilio)) as services:
        [ignored] = await ingest(services, alert(unique("NobodyAnswers")))
        await twilio.wait_for(lambda r: [m["To"] for m in twilio.calls()] == [ANA], timeout=5)  # voice, later
        assert _sms_to(twilio) == [ANA]
        first_sms = next(r.at for r in twilio.requests if r.path.endswith("/Messages.json"))
        call = next(r.at for r in twilio.requests if r.path.endswith("/Calls.json"))
        assert call - first_sms >= 0.6

        [answered] = await ingest(services, alert(unique("Answered"), service=unique("svc")))
        assert answered.incident_id is not None
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA, ANA])
        await services.responder.acknowledge(answered.incident_id, "user:ana", _now())
        found = await eventually(lambda: _cancelled(services, answered.incident_id or ""), timeout=5,
                                 what="the voice page cancelled")  # fmt: skip
        assert [p.channel for p in found] == ["voice"]
        assert len(twilio.calls()) == 1  # only the first incident's call
        assert ignored.incident_id is not None


async def _cancelled(services: Services, incident_id: str) -> list[Any] | None:
    found = [p for p in await pages(services, incident_id) if p.state.value == "cancelled"]
    return found or None


async def test_the_whole_escalation_under_an_injected_clock(database_url: str, twilio: FakeTwilio) -> None:
    """The timers by an injected clock: nothing is due until the clock moves past ``escalate_after``; each move
    takes exactly one step; acknowledge, and no move of the clock pages anyone again."""
    from llm_incident_manager.clock import ManualClock

    clock = ManualClock(datetime.now(UTC))
    cfg = _config(twilio, levels=[
        {"targets": [{"user": "ana"}], "via": ["sms"], "escalate_after": "5m"},
        {"targets": [{"user": "ben"}], "via": ["sms"], "escalate_after": "10m"},
    ])  # fmt: skip
    async with service(database_url, cfg, clock=clock) as services:
        assert services.notifications is not None
        worker = services.notifications.escalations
        assert worker is not None
        await worker.stop()  # this test takes the steps itself
        [result] = await ingest(services, alert(unique("Injected")))
        incident_id = result.incident_id or ""
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA])
        clock.advance(timedelta(minutes=4, seconds=59))
        assert await worker.run_once() == 0  # not yet
        clock.advance(timedelta(seconds=2))
        assert await worker.run_once() == 1  # T+5: level 2
        await twilio.wait_for(lambda r: _sms_to(twilio) == [ANA, BEN])
        assert await worker.run_once() == 0  # taken once
        await services.responder.acknowledge(incident_id, "user:ben", clock.now())
        await eventually(lambda: _state(services, incident_id, "acknowledged"), what="the timer stopped")
        clock.advance(timedelta(hours=6))
        assert await worker.run_once() == 0  # never after the acknowledgement
        assert _sms_to(twilio) == [ANA, BEN]


async def test_the_severity_matrix_digests_low_and_holds_medium_for_business_hours(
    database_url: str, twilio: FakeTwilio
) -> None:
    from llm_incident_manager.clock import ManualClock
    from llm_incident_manager.domain.alerts import Severity

    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    doc = _doc(twilio, levels=[{"targets": [{"user": "ana"}]}])  # no via, no escalate_after: the matrix decides
    doc["users"][0]["email"] = "ana@example.com"
    doc["users"][0]["slack_user"] = "U01ANA"
    doc["notifications"]["slack"] = {"bot_token": "xoxb-not-used-before-monday"}
    doc["global"] = {"smtp_smarthost": "127.0.0.1:9", "smtp_from": "lim@example.com"}
    cfg = parse_config(yaml.safe_dump(doc), "test")
    async with service(database_url, cfg, clock=ManualClock(saturday)) as services:
        [low] = await ingest(services, alert(unique("DiskLow"), Severity.LOW))
        [medium] = await ingest(services, alert(unique("Drift"), Severity.MEDIUM, service=unique("svc")))
        low_pages = [p for p in await pages(services, low.incident_id) if p.receiver == "user:ana"]
        assert [(p.channel, p.digest) for p in low_pages] == [("email", True)]
        assert low_pages[0].next_at == datetime(2026, 3, 7, 12, 15, tzinfo=UTC)  # the next 15-minute digest
        medium_pages = [p for p in await pages(services, medium.incident_id) if p.receiver == "user:ana"]
        assert [(p.channel, p.next_at) for p in medium_pages] == [
            ("slack", datetime(2026, 3, 9, 9, 0, tzinfo=UTC))  # Saturday noon: held for Monday's business hours
        ]
        [row] = await services.store.list_escalations(low.incident_id or "")
        assert row.next_at is None  # low: no escalation past the first level


async def test_a_team_target_pages_its_on_call_or_every_member(database_url: str, twilio: FakeTwilio) -> None:
    doc = _doc(twilio, levels=[{"targets": [{"team": "gpu"}, {"team": "leads"}], "via": ["sms"],
                                "escalate_after": "1h"}])  # fmt: skip
    doc["users"].append({"name": "cara", "phone": "+15550003333"})
    doc["teams"] = [
        {"name": "gpu", "members": ["ana", "ben"], "schedule": "primary"},  # primary: ana is on call
        {"name": "leads", "members": ["ben", "cara"]},  # no schedule: everyone
    ]
    async with service(database_url, parse_config(yaml.safe_dump(doc), "test")) as services:
        await ingest(services, alert(unique("TeamPage")))
        await twilio.wait_for(lambda r: sorted(_sms_to(twilio)) == sorted([ANA, BEN, "+15550003333"]))
