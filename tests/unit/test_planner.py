"""The planner: pages for every timeline event that a target takes, keyed one per logical page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.clock import ManualClock
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.notify.config import EventKind
from llm_incident_manager.notify.planner import (
    SELF_SOURCE,
    NotificationPlanner,
    PlannedTarget,
    next_digest,
    step_of,
    window_origin,
)
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


def _uuid7_at(ms: int) -> str:
    """A UUIDv7 made at ``ms`` (``ids.uuid7`` never goes back before the ids it made already)."""
    h = f"{ms:012x}7000{0x8000 | ms % 0x3FFF:04x}{ms % 0xFFFFFFFFFFFF:012x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    opened = T0.replace(minute=0, second=0) + timedelta(seconds=7, milliseconds=250)
    incident = _uuid7_at(int(opened.timestamp() * 1000))  # its windows count from here: 7.25 s, 67.25 s, ...
    ws = WriteSet()
    _created(ws, incident)
    planner.plan(ws)
    added = WriteSet()
    for second, fp in ((10, "f2"), (30, "f3"), (67, "f4"), (68, "f5")):
        at = T0.replace(minute=0, second=0) + timedelta(seconds=second)
        added.timeline.append((incident, at, "alert_grouped", "x", {"fingerprint": fp}))
    planner.plan(added)
    keys = [p.idempotency_key for p in added.pages]
    window = int(opened.timestamp())
    # one page per window: the later alerts of a window plan none
    assert keys == [f"{incident}/alert_added@{window}.250/team/slack_configs[0]",
                    f"{incident}/alert_added@{window + 60}.250/team/slack_configs[0]"]  # fmt: skip
    assert {p.idempotency_key: p.next_at for p in added.pages}[keys[0]] == opened + timedelta(seconds=60)


def test_the_windows_of_incidents_opened_apart_end_apart_and_the_same_after_a_restart() -> None:
    """Each incident counts its windows from its own start (Alertmanager times each group): the pages of many
    incidents do not all fall due at one moment; a new planner (a restart, another instance) finds the same steps."""
    targets = {"team": [PlannedTarget("team", "slack_configs[0]", "slack", "#ops", ALL)]}
    at = T0 + timedelta(seconds=30)
    due = {}
    for offset_ms in (0, 1_300, 2_600, 3_900):
        incident = _uuid7_at(int(T0.timestamp() * 1000) + offset_ms)
        steps = set()
        for _ in range(2):
            planner = NotificationPlanner(targets, "team", None, ManualClock(T0), route=lambda labels, at: ["team"],
                                          group_interval=lambda labels: 5.0)  # fmt: skip
            ws = WriteSet()
            _created(ws, incident)
            planner.plan(ws)
            added = WriteSet()
            added.timeline.append((incident, at, "alert_grouped", "x", {"fingerprint": "f2"}))
            planner.plan(added)
            (page,) = added.pages
            steps.add(page.idempotency_key)
            due[incident] = page.next_at
        assert len(steps) == 1
    assert len(set(due.values())) == 4
    assert all(at < d <= at + timedelta(seconds=5) for d in due.values())


@given(
    interval_ms=st.integers(min_value=1, max_value=86_400_000),  # a duration string is whole milliseconds
    at_s=st.integers(min_value=0, max_value=10**9),
    opened_ms=st.integers(min_value=0, max_value=10**12),
    other=st.text(min_size=1, max_size=40),
)
def test_the_window_of_an_added_alert_holds_its_time(interval_ms: int, at_s: int, opened_ms: int, other: str) -> None:
    at = datetime.fromtimestamp(at_s, UTC)
    interval = interval_ms / 1000
    for incident in (_uuid7_at(opened_ms), other):  # a UUIDv7 counts from its time, any other id from its hash
        start = float(step_of(EventKind.ALERT_ADDED, at, {}, interval, incident).split("@")[1])
        assert start <= at_s + 0.001
        assert at_s < start + interval + 0.001
        origin = window_origin(incident) / 1e6
        whole = round((start - origin) / interval)  # a whole number of intervals after its origin (to the ms)
        assert abs(start - origin - whole * interval) <= 0.0011
