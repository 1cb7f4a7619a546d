"""The dedup stage's decisions, table-driven and property-based, without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.domain.alerts import Alert, AlertStatus, EventAction, Severity
from llm_incident_manager.domain.incidents import Action, IncidentStatus
from llm_incident_manager.pipeline.dedup import DedupState, OpenAlertRow
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writeset import WriteSet

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = 900.0


def make(
    name: str = "x",
    *,
    at: float = 0.0,
    action: EventAction = EventAction.TRIGGER,
    key: str | None = None,
    severity: Severity = Severity.MEDIUM,
) -> Alert:
    return Alert(
        title=name,
        severity=severity,
        action=action,
        source="test",
        integration="generic",
        event_time=T0 + timedelta(seconds=at),
        identity=("generic:test", key) if key else {"alertname": name},
        dedup_key=key,
    )


def run(state: DedupState, *alerts: Alert) -> tuple[list[Action], list[str | None], WriteSet]:
    ws = WriteSet()
    results = state.apply(list(alerts), fingerprint_alerts(alerts), T0, ws)
    return [r.action for r in results], [r.incident_id for r in results], ws


def test_batch_decides_in_order_and_collects_one_write_per_incident() -> None:
    state = DedupState(WINDOW)
    actions, ids, ws = run(state, make("a"), make("a", at=1), make("b"), make("a", at=2))
    assert actions == [Action.CREATED, Action.DEDUPLICATED, Action.CREATED, Action.DEDUPLICATED]
    assert ids[0] == ids[1] == ids[3] != ids[2]
    assert len(ws.new_incidents) == len(ws.new_alerts) == 2
    assert [d[2] for d in ws.log[0].decisions] == ["created", "deduplicated", "created", "deduplicated"]
    # the repeats are counters in memory, not row updates: two repeats of "a", none of "b"
    [fp_a, _, fp_b, _] = fingerprint_alerts([make("a"), make("a"), make("b"), make("a")])
    assert ws.counters[(ids[0], fp_a)].count == 2  # type: ignore[index]
    assert ws.counters[(ids[0], fp_a)].last_seen_at == T0 + timedelta(seconds=2)  # type: ignore[index]
    assert (ids[2], fp_b) not in ws.counters
    assert ws.changes == {}


@given(st.lists(st.floats(min_value=0, max_value=3 * WINDOW), min_size=1, max_size=30))
def test_a_trigger_joins_iff_within_window_of_the_last_occurrence(gaps: list[float]) -> None:
    state = DedupState(WINDOW)
    at = 0.0
    actions, ids, _ = run(state, make(at=at))
    incident = ids[0]
    for gap in gaps:
        at += gap
        actions, ids, _ = run(state, make(at=at))
        if gap <= WINDOW:
            assert actions == [Action.DEDUPLICATED]
            assert ids[0] == incident
        else:
            assert actions == [Action.CREATED]
            assert ids[0] != incident
            incident = ids[0]


@given(st.floats(min_value=0, max_value=1e8))
def test_an_explicit_key_joins_however_long_ago(gap: float) -> None:
    state = DedupState(WINDOW)
    _, first, _ = run(state, make(key="k"))
    actions, again, _ = run(state, make(key="k", at=gap))
    assert actions == [Action.DEDUPLICATED]
    assert again == first


def test_resolve_acknowledge_and_reopen() -> None:
    state = DedupState(WINDOW)
    _, [incident], _ = run(state, make(key="k"))
    actions, _, ws = run(state, make(key="k", action=EventAction.ACKNOWLEDGE))
    assert actions == [Action.ACKNOWLEDGED]
    assert ws.changes[incident].status is IncidentStatus.ACKNOWLEDGED  # type: ignore[index]
    assert state.incident_status(incident) is IncidentStatus.ACKNOWLEDGED  # type: ignore[arg-type]
    actions, _, ws = run(state, make(key="k", action=EventAction.RESOLVE, at=5 * WINDOW))
    assert actions == [Action.RESOLVED]
    assert ws.changes[incident].status is IncidentStatus.RESOLVED  # type: ignore[index]
    assert state.open_incidents == 0
    assert run(state, make(key="k", action=EventAction.RESOLVE))[0] == [Action.IGNORED]
    assert run(state, make(key="k", action=EventAction.ACKNOWLEDGE))[0] == [Action.IGNORED]
    actions, [new], _ = run(state, make(key="k"))
    assert actions == [Action.CREATED]
    assert new != incident


def test_severity_only_rises() -> None:
    state = DedupState(WINDOW)
    _, [incident], _ = run(state, make(key="k", severity=Severity.LOW))
    _, _, ws = run(state, make(key="k", severity=Severity.CRITICAL))
    assert ws.changes[incident].severity is Severity.CRITICAL  # type: ignore[index]
    _, _, ws = run(state, make(key="k", severity=Severity.INFO))
    assert incident not in ws.changes


def test_load_rebuilds_the_same_decisions() -> None:
    live = DedupState(WINDOW)
    _, [open_id], _ = run(live, make("open", at=0))
    _, [acked], _ = run(live, make(key="acked"))
    run(live, make(key="acked", action=EventAction.ACKNOWLEDGE))
    rows = [
        OpenAlertRow(
            open_id,
            IncidentStatus.TRIGGERED,
            Severity.MEDIUM,
            fingerprint_alerts([make("open")])[0],  # type: ignore[arg-type]
            AlertStatus.FIRING,
            T0,
            False,
        ),
        OpenAlertRow(
            acked,
            IncidentStatus.ACKNOWLEDGED,
            Severity.MEDIUM,
            fingerprint_alerts([make(key="acked")])[0],  # type: ignore[arg-type]
            AlertStatus.FIRING,
            T0,
            True,
        ),
    ]
    rebuilt = DedupState(WINDOW)
    rebuilt.load(rows)
    probe = [make("open", at=10), make(key="acked", at=10_000), make("open", at=10 + 2 * WINDOW)]
    assert run(rebuilt, *probe)[:2][0] == run(live, *probe)[:2][0]
    assert rebuilt.incident_status(acked) is IncidentStatus.ACKNOWLEDGED  # type: ignore[arg-type]


def test_a_repeat_after_a_long_silence_supersedes_the_old_incident() -> None:
    state = DedupState(WINDOW)
    _, [old], _ = run(state, make(at=0))
    actions, [new], ws = run(state, make(at=WINDOW + 300))
    assert actions == [Action.CREATED]
    assert new != old
    # the old incident lets go of the alert and, having nothing else firing, resolves
    [fp] = fingerprint_alerts([make()])
    assert ws.superseded == [(old, fp, new, T0 + timedelta(seconds=WINDOW + 300))]
    assert (old, fp) not in ws.counters  # the old row is only marked, never rewritten with the new alert
    assert ws.changes[old].status is IncidentStatus.RESOLVED  # type: ignore[index]
    assert state.incident_status(old) is None  # type: ignore[arg-type]
    assert [t[2] for t in ws.timeline if t[0] == old] == ["alert_superseded", "resolved"]
    # resolving the new incident leaves nothing open for that fingerprint
    assert run(state, make(at=WINDOW + 400, action=EventAction.RESOLVE))[0] == [Action.RESOLVED]
    assert run(state, make(at=WINDOW + 500, action=EventAction.RESOLVE))[0] == [Action.IGNORED]
    assert state.open_incidents == 0
