"""``lim replay``: runs a recorded alert stream through the whole pipeline in a private in-memory store, faster
than real time, and reports what it made of it (docs/correlation.md, "Replay").

The file is JSON Lines, one ingest request per line, in the order they arrived::

    {"format": "alertmanager", "received_at": "2026-11-29T10:00:03Z", "body": {...}, "truth": ["gpu-node-1", ...]}

``format`` is ``alertmanager``, ``pagerduty``, ``cloudevents`` or ``generic`` and ``body`` exactly what was POSTed
to that endpoint. ``truth`` (optional) gives the true incident of each alert of the body, in body order (a string
for a body of one); with it the report scores the grouping (B-cubed precision and recall). ``received_at``
(optional) is when the request arrived; without it the wall clock is used. Every window is measured in the
alerts' own event times, so a replay groups as the live stream did.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from llm_incident_manager.clock import SystemClock
from llm_incident_manager.config import Settings
from llm_incident_manager.configfile import FileConfig
from llm_incident_manager.correlation.metrics import GroupingScore, score_grouping
from llm_incident_manager.domain.alerts import Alert, EventAction
from llm_incident_manager.domain.incidents import Action, AlertResult
from llm_incident_manager.errors import LimError
from llm_incident_manager.ingest import alertmanager, cloudevents, generic, pagerduty
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.services import Services

__all__ = ["ReplayError", "ReplayReport", "replay", "replay_file"]

_FORMATS = ("alertmanager", "pagerduty", "cloudevents", "generic")
#: requests waiting for their commit at once
IN_FLIGHT = 256


class ReplayError(ValueError):
    """A line of the file cannot be replayed; the message gives the line number."""


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    body: msgspec.Raw
    received_at: datetime | None = None
    truth: list[str] | str | None = None
    content_type: str | None = None


class Evidence(msgspec.Struct):
    title: str
    rule: str
    score: float
    matched: str
    detail: dict[str, Any]


class IncidentSummary(msgspec.Struct):
    id: str
    title: str
    alerts: int
    distinct_alerts: int
    rules: dict[str, int]
    evidence: list[Evidence]
    truth: dict[str, int] = {}


class ReplayReport(msgspec.Struct):
    lines: int
    alerts: int
    triggers: int
    incidents: int
    noise_reduction: float
    actions: dict[str, int]
    rules: dict[str, int]
    seconds: float
    largest: list[IncidentSummary]
    score: GroupingScore | None = None
    #: with ground truth: per rule, how many of its grouping decisions joined an alert to an incident opened by an
    #: alert of another true incident (what to tune first)
    rules_against_truth: dict[str, int] = {}

    def text(self) -> str:
        out = [
            f"replayed {self.lines} requests, {self.alerts} alerts ({self.triggers} triggers) in {self.seconds:.2f} s "
            f"({self.alerts / max(self.seconds, 1e-9):,.0f} alerts/s)",
            f"incidents: {self.incidents}   noise reduction: {self.noise_reduction:.1%}",
            "actions: " + ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items())),
            "grouping rules: " + (", ".join(f"{k} {v}" for k, v in sorted(self.rules.items())) or "none"),
        ]
        if self.score is not None:
            s = self.score
            out.append(
                f"ground truth: {s.true_incidents} incidents (ceiling {s.ceiling:.1%}); B-cubed precision "
                f"{s.precision:.4f}, recall {s.recall:.4f}, F1 {s.f1:.4f}"
            )
            wrong = ", ".join(f"{k} {self.rules_against_truth.get(k, 0)} of {v}" for k, v in sorted(self.rules.items()))
            out.append(f"grouping decisions against the truth: {wrong or 'none'}")
        out.append("largest incidents:")
        for n, inc in enumerate(self.largest, 1):
            rules = ", ".join(f"{k} x{v}" for k, v in sorted(inc.rules.items())) or "no grouping"
            truth = ""
            if inc.truth:
                truth = "   truth: " + ", ".join(f"{k} x{v}" for k, v in sorted(inc.truth.items(), key=lambda x: -x[1]))
            out.append(f"  {n}. {inc.title!r}: {inc.alerts} alerts, {inc.distinct_alerts} distinct; {rules}{truth}")
            for ev in inc.evidence:
                shown = ev.detail.get("values", ev.detail)  # label_group: the label values are the evidence
                detail = ", ".join(
                    f"{k}={v}" for k, v in shown.items() if v and k not in ("threshold", "fuzzy_threshold")
                )
                out.append(f"       + {ev.title!r} by {ev.rule} ({ev.score:.2f}; {detail}) matching {ev.matched!r}")
        return "\n".join(out)


@dataclass
class _Tally:
    lines: int = 0
    alerts: int = 0
    triggers: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    per_incident: Counter[str] = field(default_factory=Counter)
    truth_of: dict[str, Counter[str]] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    has_truth: bool = False
    #: the true incident of the alert that opened each incident, and of each grouped alert
    opened_by: dict[str, str] = field(default_factory=dict)
    grouped_truth: dict[tuple[str, str], str] = field(default_factory=dict)


def _decoder(fmt: str) -> Callable[[bytes, IngestContext], list[Alert]]:
    if fmt == "alertmanager":
        return alertmanager.decode
    if fmt == "generic":
        return generic.decode
    if fmt == "cloudevents":
        return cloudevents.decode

    def pd(body: bytes, ctx: IngestContext) -> list[Alert]:
        events, single = pagerduty.decode_events(body)
        return pagerduty.to_alerts(events, ["replay"] * len(events), ctx, single=single)

    return pd


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if raw.strip():
                yield n, raw


async def replay(
    lines: Iterator[tuple[int, bytes]], config: FileConfig, settings: Settings, top: int = 5
) -> ReplayReport:
    """Replays numbered JSON lines through a fresh pipeline on a private in-memory store."""
    settings = msgspec.structs.replace(settings, database_url="sqlite:///:memory:", sqlite_synchronous="OFF")
    decode_line = msgspec.json.Decoder(_Line).decode
    services = await Services.start(settings, config=config)
    tally = _Tally()
    started = time.perf_counter()
    # Requests are decided in file order (the pipeline decides a batch before its first await, and tasks start
    # in the order they are created); up to IN_FLIGHT of them wait for their commit together, so the writer
    # coalesces them as it does under concurrent clients.
    in_flight: deque[tuple[asyncio.Task[list[AlertResult]], list[Alert], list[str] | None]] = deque()
    try:
        for n, raw in lines:
            try:
                line = decode_line(raw)
            except msgspec.ValidationError as exc:
                msg = f"line {n}: {exc}"
                raise ReplayError(msg) from None
            except msgspec.DecodeError as exc:
                msg = f"line {n}: not a JSON object: {exc}"
                raise ReplayError(msg) from None
            alerts, truth, received = _decode(services, line, n)
            in_flight.append((asyncio.create_task(services.pipeline.ingest(alerts, received)), alerts, truth))
            if len(in_flight) >= IN_FLIGHT:
                _tally(tally, *(await _finish(in_flight.popleft())))
        while in_flight:
            _tally(tally, *(await _finish(in_flight.popleft())))
        seconds = time.perf_counter() - started
        return await _report(services, tally, seconds, top)
    finally:
        for task, _, _ in in_flight:
            task.cancel()
        await services.stop()


async def _finish(
    entry: tuple[asyncio.Task[list[AlertResult]], list[Alert], list[str] | None],
) -> tuple[list[Alert], list[AlertResult], list[str] | None]:
    task, alerts, truth = entry
    return alerts, await task, truth


def _decode(services: Services, line: _Line, n: int) -> tuple[list[Alert], list[str] | None, datetime]:
    if line.format not in _FORMATS:
        msg = f"line {n}: format {line.format!r} is not one of {', '.join(_FORMATS)}"
        raise ReplayError(msg)
    received = line.received_at or SystemClock().now()
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    body = bytes(line.body)
    content_type = line.content_type or (
        (cloudevents.BATCH if body.lstrip().startswith(b"[") else "application/cloudevents+json")
        if line.format == "cloudevents"
        else "application/json"
    )
    ctx = IngestContext(
        received_at=received, key_id="replay", max_batch=services.settings.max_batch, content_type=content_type
    )
    try:
        alerts = _decoder(line.format)(body, ctx)
    except LimError as exc:
        fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        msg = f"line {n}: {exc.detail}" + (f" ({fields})" if fields else "")
        raise ReplayError(msg) from None
    truth = [line.truth] if isinstance(line.truth, str) else line.truth
    if truth is not None and len(truth) != len(alerts):
        msg = f"line {n}: truth has {len(truth)} labels for {len(alerts)} alerts"
        raise ReplayError(msg)
    return alerts, truth, received


def _tally(tally: _Tally, alerts: list[Alert], results: list[AlertResult], truth: list[str] | None) -> None:
    tally.lines += 1
    tally.alerts += len(alerts)
    for i, (alert, result) in enumerate(zip(alerts, results, strict=True)):
        tally.actions[result.action.value] += 1
        if alert.action is not EventAction.TRIGGER or result.incident_id is None:
            continue
        tally.triggers += 1
        tally.per_incident[result.incident_id] += 1
        if truth is not None:
            tally.has_truth = True
            tally.pairs.append((result.incident_id, truth[i]))
            tally.truth_of.setdefault(result.incident_id, Counter())[truth[i]] += 1
            if result.action is Action.CREATED:
                tally.opened_by[result.incident_id] = truth[i]
            elif result.action is Action.GROUPED:
                tally.grouped_truth[(result.incident_id, result.fingerprint)] = truth[i]


async def _report(services: Services, tally: _Tally, seconds: float, top: int) -> ReplayReport:
    store = services.store
    rules: Counter[str] = Counter()
    against: Counter[str] = Counter()
    largest: list[IncidentSummary] = []
    biggest = {i for i, _ in tally.per_incident.most_common(top)}
    for incident_id in tally.per_incident:
        inc_rules: Counter[str] = Counter()
        evidence: list[Evidence] = []
        cursor: str | None = None
        while True:
            page = await store.list_timeline(incident_id, cursor, 500)
            for event in page.items:
                if event.kind == "alert_grouped":
                    data = event.data
                    inc_rules[str(data["rule"])] += 1
                    truth = tally.grouped_truth.get((incident_id, str(data["fingerprint"])))
                    if truth is not None and truth != tally.opened_by.get(incident_id, truth):
                        against[str(data["rule"])] += 1
                    if incident_id in biggest and len(evidence) < 3:
                        detail = {k: v for k, v in data.items() if k not in ("fingerprint", "title", "rule", "score",
                                                                            "matched")}  # fmt: skip
                        evidence.append(Evidence(str(data["title"]), str(data["rule"]), float(data["score"]),
                                                 str(data["matched"]["title"]), detail))  # fmt: skip
            cursor = page.next_cursor
            if cursor is None:
                break
        rules.update(inc_rules)
        if incident_id in biggest:
            incident = await services.reader.get_incident(incident_id)
            distinct = len((await services.reader.list_alerts(incident_id, None, 500)).items)
            largest.append(
                IncidentSummary(
                    id=incident_id,
                    title="" if incident is None else incident.title,
                    alerts=tally.per_incident[incident_id],
                    distinct_alerts=distinct,
                    rules=dict(inc_rules),
                    evidence=evidence,
                    truth=dict(tally.truth_of.get(incident_id, {})),
                )
            )
    largest.sort(key=lambda s: -s.alerts)
    incidents = len(tally.per_incident)
    return ReplayReport(
        lines=tally.lines,
        alerts=tally.alerts,
        triggers=tally.triggers,
        incidents=incidents,
        noise_reduction=0.0 if tally.triggers == 0 else 1 - incidents / tally.triggers,
        actions=dict(tally.actions),
        rules=dict(rules),
        seconds=seconds,
        largest=largest,
        score=score_grouping(tally.pairs) if tally.has_truth else None,
        rules_against_truth=dict(against),
    )


async def replay_file(path: str | Path, config: FileConfig, settings: Settings, top: int = 5) -> ReplayReport:
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        msg = f"{path}: {exc.strerror}"
        raise ReplayError(msg) from None
    return await replay(_lines(path), config, settings, top)
