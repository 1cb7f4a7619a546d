"""The planner: pages for every timeline event that a target takes, keyed one per logical page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.clock import ManualClock
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.notify.config import EventKind
from llm_incident_manager.notify.planner import SELF_SOURCE, NotificationPlanner, PlannedTarget, next_digest, step_of
from llm_incident_manager.pipeline.writeset import IncidentChange, NewIncident, WriteSet

T0 = datetime(2026, 3, 1, 12, 0, 7, tzinfo=UTC)
ALL = frozenset(EventKind)


def _incident(incident_id: str, severity: Severity = Severity.HIGH, source: str = "prometheus") -> NewIncident:
    return NewIncident(
        id=incident_id, status=IncidentStatus.TRIGGERED, severity=severity, title="t", description=None,
        source=source, fingerprint="f", service=None, model=None, model_version=None, provider=None, region=None,
        env=None, node=None, labels={}, created_at=T0, last_seen_at=T0,
    )  # fmt: skip


def _planner() -> NotificationPlanner:
    targets = {
        "team": [
            PlannedTarget("team", "slack_configs[0]", "slack", "#ops", ALL),
            PlannedTarget("team", "email_configs[0]", "email", "ops@example.com",
                          frozenset({EventKind.TRIGGERED}), digest_interval=600.0,
                          digest_severities=frozenset({"low"})),
        ],
        "self": [PlannedTarget("self", "webhook_configs[0]", "webhook", "https://x", ALL)],
    }  # fmt: skip
    return NotificationPlanner(targets, "team", "self", ManualClock(T0))


def _created(ws: WriteSet, incident_id: str, severity: Severity = Severity.HIGH, source: str = "prometheus") -> None:
    ws.new_incidents.append(_incident(incident_id, severity, source))
    ws.timeline.append((incident_id, T0, "created", "am:prom", {"fingerprint": "f1", "title": "t"}))


def test_a_new_incident_pages_every_target_that_takes_it() -> None:
    planner = _planner()
    ws = WriteSet()
    _created(ws, "i1")
    planner.plan(ws)
    assert [(p.target, p.event, p.idempotency_key, p.digest) for p in ws.pages] == [
        ("slack_configs[0]", "triggered", "i1/triggered/team/slack_configs[0]", False),
        ("email_configs[0]", "triggered", "i1/triggered/team/email_configs[0]", False),
    ]
    assert ws.pages[0].data["actor"] == "am:prom"


def test_later_events_go_only_to_targets_that_take_them() -> None:
    planner = _planner()
    ws = WriteSet()
    _created(ws, "i1")
    planner.plan(ws)
    ws2 = WriteSet()
    ws2.timeline.append(("i1", T0, "alert_grouped", "x", {"fingerprint": "f2"}))
    ws2.timeline.append(("i1", T0, "acknowledged", "key:ana", {}))
    ws2.timeline.append(("i1", T0, "note", "key:ana", {"text": "looking"}))
    planner.plan(ws2)
    assert [(p.target, p.event) for p in ws2.pages] == [
        ("slack_configs[0]", "alert_added"), ("slack_configs[0]", "acknowledged")
    ]  # fmt: skip
    assert ws2.pages[0].idempotency_key == "i1/alert_added:f2/team/slack_configs[0]"


def test_low_severity_waits_for_the_digest_boundary() -> None:
    planner = _planner()
    ws = WriteSet()
    _created(ws, "i1", Severity.LOW)
    planner.plan(ws)
    email = next(p for p in ws.pages if p.channel == "email")
    assert email.digest
    assert email.next_at == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    slack = next(p for p in ws.pages if p.channel == "slack")
    assert not slack.digest
    assert slack.next_at == T0


def test_own_incidents_go_to_the_self_monitoring_receiver_and_resolve_forgets() -> None:
    planner = _planner()
    ws = WriteSet()
    _created(ws, "own", source=SELF_SOURCE)
    planner.plan(ws)
    assert {p.receiver for p in ws.pages} == {"self"}
    ws2 = WriteSet()
    ws2.changes["own"] = IncidentChange(resolved_at=T0, status=IncidentStatus.RESOLVED)
    ws2.timeline.append(("own", T0, "resolved", "x", {}))
    planner.plan(ws2)
    assert {p.receiver for p in ws2.pages} == {"self"}
    assert planner.receivers_of("own") == ("team",)  # forgotten once resolved


def test_no_root_receiver_plans_nothing() -> None:
    planner = NotificationPlanner({}, None)
    ws = WriteSet()
    _created(ws, "i1")
    planner.plan(ws)
    assert ws.pages == []


@given(
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    interval=st.sampled_from([1.0, 60.0, 300.0, 900.0, 3600.0]),
)
def test_digest_boundaries_are_shared_and_after_now(now: datetime, interval: float) -> None:
    boundary = next_digest(now, interval)
    assert now < boundary
    assert (boundary - now).total_seconds() <= interval + 1e-6
    assert boundary.timestamp() % interval == 0
    assert next_digest(now + (boundary - now) // 2, interval) == boundary  # any time before it: the same one


def test_alerts_added_page_once_per_group_interval_window_at_its_end() -> None:
    targets = {"team": [PlannedTarget("team", "slack_configs[0]", "slack", "#ops", ALL)]}
    planner = NotificationPlanner(targets, "team", None, ManualClock(T0), route=lambda labels, at: ["team"],
                                  group_interval=lambda labels: 60.0)  # fmt: skip
    ws = WriteSet()
    _created(ws, "i1")
    planner.plan(ws)
    added = WriteSet()
    for second, fp in ((10, "f2"), (30, "f3"), (59, "f4"), (61, "f5")):
        at = T0.replace(minute=0, second=0) + timedelta(seconds=second)
        added.timeline.append(("i1", at, "alert_grouped", "x", {"fingerprint": fp}))
    planner.plan(added)
    keys = [p.idempotency_key for p in added.pages]
    window = int(T0.replace(minute=0, second=0).timestamp())
    # one page per window: the later alerts of a window plan none
    assert keys == [f"i1/alert_added@{window}/team/slack_configs[0]",
                    f"i1/alert_added@{window + 60}/team/slack_configs[0]"]  # fmt: skip
    assert {p.idempotency_key: p.next_at for p in added.pages}[keys[0]] == T0.replace(minute=1, second=0)


@given(st.floats(min_value=1.0, max_value=86_400.0), st.integers(min_value=0, max_value=10**9))
def test_the_window_of_an_added_alert_holds_its_time(interval: float, at_s: int) -> None:
    at = datetime.fromtimestamp(at_s, UTC)
    start = float(step_of(EventKind.ALERT_ADDED, at, {}, interval).split("@")[1])
    assert start <= at_s + 0.5
    assert at_s < start + interval + 0.5
