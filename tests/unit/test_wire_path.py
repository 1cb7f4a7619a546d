"""The Alertmanager wire path (``DedupState.apply_wire``: repeats decided from the decoded payload, everything else
normalised) decides exactly what normalising every alert and ``apply`` decide: the same actions, incidents,
timeline, counters and state, on generated webhook streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.ingest import alertmanager
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writeset import WriteSet

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = 900.0
SERVICES = ("chat-api", "embedding-api", "vllm-serving")
NAMES = ("ModelLatencyP99High", "TokenCostSpike", "GPUMemoryHigh")
SEVERITIES = ("critical", "warning", "info", "", "P2", "bogus")


@st.composite
def webhook_alerts(draw: Any) -> dict[str, Any]:
    labels = {
        "alertname": draw(st.sampled_from(NAMES)),
        "service": draw(st.sampled_from(SERVICES)),
        "instance": draw(st.sampled_from(("a", "b", ""))),
    }
    severity = draw(st.sampled_from(SEVERITIES))
    if severity:
        labels["severity"] = severity
    annotations = draw(st.sampled_from(({}, {"summary": "p99 above 2s"}, {"summary": "", "runbook_url": "u"})))
    return {
        "status": draw(st.sampled_from(("firing", "firing", "firing", "resolved"))),
        "labels": labels,
        "annotations": annotations,
        "start": draw(st.sampled_from(START_FORMS)),
    }


@st.composite
def streams(draw: Any) -> list[tuple[float, list[dict[str, Any]]]]:
    """Batches of webhook alerts; the alerts of a batch start at the batch's time, and time moves forward, now and
    then by more than the dedup window."""
    at = 0.0
    out = []
    for _ in range(draw(st.integers(1, 8))):
        at += draw(st.sampled_from((0.0, 10.0, 60.0, WINDOW + 1)))
        out.append((at, draw(st.lists(webhook_alerts(), min_size=1, max_size=12))))
    return out


#: how a sender writes an alert's startsAt: UTC with Z, another offset, no zone (UTC), with microseconds, left
#: out, or Go's zero time (both meaning "when received")
START_FORMS = ("z", "offset", "naive", "micros", "absent", "zero")


def _start(at: float, form: str) -> str | None:
    when = T0 + timedelta(seconds=at)
    if form == "offset":
        return when.astimezone(timezone(timedelta(hours=-5))).isoformat()  # behind UTC: a misread is no gap
    if form == "naive":
        return when.replace(tzinfo=None).isoformat()
    if form == "micros":
        return (when + timedelta(microseconds=123_457)).isoformat().replace("+00:00", "Z")
    if form == "absent":
        return None
    if form == "zero":
        return "0001-01-01T00:00:00Z"
    return when.isoformat().replace("+00:00", "Z")


def _body(at: float, alerts: list[dict[str, Any]]) -> bytes:
    start = _start(at, "z")
    items = []
    for a in alerts:
        item = {k: v for k, v in a.items() if k != "start"}
        begins = _start(at, a.get("start", "z"))
        if begins is not None:
            item["startsAt"] = begins
        item["endsAt"] = start if a["status"] == "resolved" else "0001-01-01T00:00:00Z"
        items.append(item)
    return msgspec.json.encode({"version": "4", "status": "firing", "receiver": "r", "alerts": items})


class _Ids:
    """Incident ids (random per run) as their order of appearance, so two runs compare."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, incident_id: str | None) -> int | None:
        return None if incident_id is None else self.seen.setdefault(incident_id, len(self.seen))


def _data(data: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    return {k: ids(v) if k in ("incident_id", "previous_incident_id") else v for k, v in data.items()}


def _run(stream: list[tuple[float, list[dict[str, Any]]]], wire: bool) -> list[Any]:
    state = DedupState(WINDOW, CorrelationState(CorrelationConfig()))
    ids = _Ids()
    out: list[Any] = []
    rows: dict[tuple[int | None, str], Any] = {}  # the text each alert row would hold after the batch
    for at, alerts in stream:
        body = _body(at, alerts)
        received = T0 + timedelta(seconds=at + 1)
        ctx = IngestContext(received_at=received, key_id="k", max_batch=1000, content_type="application/json",
                            headers={})  # fmt: skip
        ws = WriteSet()
        if wire:
            items, resolved = alertmanager.decode_wire(body, ctx)
            fps = fingerprint_alerts([alertmanager.to_alert(i, "", ctx, "alertmanager") for i in items])
            results = state.apply_wire(items, fps, resolved, received, ws, alertmanager.converter(items, ctx), body)
        else:
            normalised = alertmanager.decode(body, ctx)
            results = state.apply(normalised, fingerprint_alerts(normalised), received, ws)
        out.append([(ids(r.incident_id), r.fingerprint, r.action) for r in results])
        out.append([(ids(d[0]), d[1], d[2], d[3]) for d in ws.log[0].decisions])
        out.append(ws.log[0].deduplicated)
        out.append([(ids(t[0]), t[2], t[3], _data(t[4], ids)) for t in ws.timeline])
        out.append(sorted((ids(n.id), n.fingerprint, n.severity, n.title) for n in ws.new_incidents))
        out.append(sorted((ids(a.incident_id), a.fingerprint, a.status) for a in ws.new_alerts))
        out.append(sorted((ids(i), c.status, c.severity, c.resolved_by) for i, c in ws.changes.items()))
        for a in ws.new_alerts:  # the text a new alert's row starts with
            rows[(ids(a.incident_id), a.fingerprint)] = (a.title, a.severity, a.annotations)
        counted = []
        for (i, fp), c in ws.counters.items():
            key = (ids(i), fp)
            if c.title is not None:  # a counter without text leaves the row's text as it is
                rows[key] = (c.title, c.severity, c.annotations)
            counted.append((*key, c.count, c.last_seen_at, rows[key]))
        out.append(sorted(counted, key=repr))
    out.append((state.open_alerts, state.open_incidents))
    return out


@settings(max_examples=200, deadline=None)
@given(streams())
def test_the_wire_path_decides_what_normalising_every_alert_decides(
    stream: list[tuple[float, list[dict[str, Any]]]],
) -> None:
    assert _run(stream, wire=True) == _run(stream, wire=False)


def test_the_alert_log_keeps_the_payload_as_it_came() -> None:
    body = _body(0.0, [{"status": "firing", "labels": {"alertname": "A"}, "annotations": {}}])
    ctx = IngestContext(received_at=T0, key_id="k", max_batch=10, content_type="application/json", headers={})
    items, resolved = alertmanager.decode_wire(body, ctx)
    state = DedupState(WINDOW)
    ws = WriteSet()
    fps = fingerprint_alerts([alertmanager.to_alert(items[0], "", ctx, "alertmanager")])
    state.apply_wire(items, fps, resolved, T0, ws, alertmanager.converter(items, ctx), body)
    assert msgspec.json.encode(ws.log[0].alerts) == body


def test_a_repeat_is_decided_at_its_own_event_time_whatever_zone_it_is_written_in() -> None:
    """A repeat's decision carries its start as a UTC instant: written with another offset, without a zone
    (UTC), or left out (the time it was received)."""
    received = T0 + timedelta(seconds=61)
    labels = {"alertname": "A", "service": "chat-api"}
    cases = {
        "offset": T0 + timedelta(seconds=60),
        "naive": T0 + timedelta(seconds=60),
        "micros": T0 + timedelta(seconds=60, microseconds=123_457),
        "absent": received,
        "zero": received,
    }
    state = DedupState(WINDOW)
    ctx = IngestContext(received_at=received, key_id="k", max_batch=10, content_type="application/json",
                        headers={})  # fmt: skip
    for form, expected in [("z", None), *cases.items()]:
        body = _body(60.0, [{"status": "firing", "labels": labels, "annotations": {}, "start": form}])
        items, resolved = alertmanager.decode_wire(body, ctx)
        fps = fingerprint_alerts([alertmanager.to_alert(items[0], "", ctx, "alertmanager")])
        ws = WriteSet()
        state.apply_wire(items, fps, resolved, received, ws, alertmanager.converter(items, ctx), body)
        decision = ws.log[0].decisions[0]
        if expected is None:
            assert decision[2] == "created"
            continue
        assert decision[2] == "deduplicated", form
        assert decision[3] == (expected - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1), form
        assert ws.counters[(decision[0], fps[0])].last_seen_at == expected, form
