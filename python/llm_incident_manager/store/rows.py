"""Turns a group of WriteSets (and a bucket of counters to flush) into the parameter rows of each table, for
either engine.

The engines differ only in how a time is bound (integer microseconds in SQLite, ``timestamptz`` in PostgreSQL)
and how a boolean is bound; both pass their converters in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec

from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import NewPage, WriteSet
from llm_incident_manager.store.codec import EPOCH, encode_json
from llm_incident_manager.store.protocol import Page

__all__ = ["PAGE_COLUMNS", "CommitRows", "Row", "commit_rows", "flush_rows", "page", "page_row", "recount_rows"]

T = TypeVar("T")
Row = tuple[Any, ...]


@dataclass(slots=True)
class CommitRows:
    incidents: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)
    alert_status: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)
    batches: list[Row] = field(default_factory=list)
    timeline: list[Row] = field(default_factory=list)
    superseded: list[Row] = field(default_factory=list)
    splits: list[Row] = field(default_factory=list)
    pages: list[Row] = field(default_factory=list)
    escalations: list[Row] = field(default_factory=list)
    escalation_states: list[Row] = field(default_factory=list)

    def in_order(self) -> list[tuple[str, list[Row]]]:
        """The non-empty row lists by name, in the order a commit must write them (rows before what refers to
        them); each store maps the names to its own SQL."""
        ordered = (
            "incidents",
            "alerts",
            "alert_status",
            "changes",
            "batches",
            "timeline",
            "superseded",
            "splits",
            "pages",
            "escalations",
            "escalation_states",
        )
        return [(name, rows) for name in ordered if (rows := getattr(self, name))]


_encode = msgspec.json.Encoder().encode


def _identity(value: Any) -> Any:
    return value


def commit_rows(
    batches: Sequence[WriteSet], time: Callable[[datetime], Any], flag: Callable[[bool], Any] = _identity
) -> CommitRows:
    """The rows of every immediate change, in batch order, with times bound through ``time``."""

    def opt(value: datetime | None) -> Any:
        return None if value is None else time(value)

    rows = CommitRows()
    for ws in batches:
        for n in ws.new_incidents:
            created = time(n.created_at)
            rows.incidents.append(
                (n.id, n.status.value, n.severity.value, n.title, n.description, n.source, n.fingerprint, n.service,
                 n.model, n.model_version, n.provider, n.region, n.env, n.node, encode_json(n.labels), 1, created,
                 created, time(n.last_seen_at), None, None, None, None)
            )  # fmt: skip
        for a in ws.new_alerts:
            seen = time(a.first_seen_at)
            rows.alerts.append(
                (a.incident_id, a.fingerprint, a.status.value, a.title, a.severity.value, a.source, flag(a.explicit),
                 a.dedup_key, encode_json(a.labels), encode_json(a.annotations), 1, seen, seen, opt(a.resolved_at),
                 a.service, a.model, a.env, a.region, a.node, a.key_scope)
            )  # fmt: skip
        for (incident_id, fp), st in ws.alert_status.items():
            rows.alert_status.append((st.status.value, opt(st.resolved_at), incident_id, fp))
        for incident_id, c in ws.changes.items():
            rows.changes.append(
                (opt(c.updated_at), None if c.status is None else c.status.value,
                 None if c.severity is None else c.severity.value, opt(c.acknowledged_at), c.acknowledged_by,
                 opt(c.resolved_at), c.resolved_by, c.alerts_added, opt(c.last_seen_at), incident_id)
            )  # fmt: skip
        for entry in ws.log:
            rows.batches.append(
                (time(entry.received_at), len(entry.decisions), entry.deduplicated, _encode(entry.alerts),
                 _encode(entry.decisions))
            )  # fmt: skip
        rows.timeline.extend((t[0], time(t[1]), t[2], t[3], encode_json(t[4])) for t in ws.timeline)
        rows.superseded.extend((x[2], time(x[3]), x[0], x[1]) for x in ws.superseded)
        rows.splits.extend((x[0], x[1], x[2], time(x[3]), x[4]) for x in ws.splits)
        rows.pages.extend(page_row(p, time, flag) for p in ws.pages)
        rows.escalations.extend(
            (
                e.incident_id,
                e.receiver,
                e.policy,
                e.state,
                e.level,
                e.cycle,
                e.severity,
                opt(e.next_at),
                time(e.updated_at),
            )
            for e in ws.escalations
        )
        rows.escalation_states.extend((state, opt(at), time(upd), iid) for iid, state, at, upd in ws.escalation_states)
    return rows


def page_row(p: NewPage, time: Callable[[datetime], Any], flag: Callable[[bool], Any] = _identity) -> Row:
    """The insert row of a new page (``PAGE_COLUMNS`` order)."""
    created = time(p.created_at)
    return (p.id, p.idempotency_key, p.incident_id, p.event, p.receiver, p.target, p.channel, p.recipient,
            p.severity, encode_json(p.data), "pending", 0, time(p.next_at), flag(p.digest), created, created,
            p.fallback_of)  # fmt: skip


#: the columns ``page_row`` fills, in order
PAGE_COLUMNS = (
    "id, idempotency_key, incident_id, event, receiver, target, channel, recipient, severity, data, state, "
    "attempts, next_at, digest, created_at, updated_at, fallback_of"
)


def flush_rows(bucket: Bucket, time: Callable[[datetime], Any]) -> tuple[list[Row], list[Row]]:
    """The counter rows of a bucket: (alert rows, incident rows). Text columns are None where the counts
    were recounted from the alert log, which keeps no text, or where the counter left the row's text as it is
    (the SQL keeps the old text then)."""
    alerts = [
        (c.count, time(c.last_seen_at), c.title, None if c.severity is None else c.severity.value,
         None if c.labels is None else encode_json(c.labels),
         None if c.annotations is None else encode_json(c.annotations),
         incident_id, fp)
        for (incident_id, fp), c in bucket.alerts.items()
    ]  # fmt: skip
    incidents = [
        (t.count, time(t.last_seen_at), time(t.updated_at), incident_id) for incident_id, t in bucket.incidents.items()
    ]
    return alerts, incidents


_decisions = msgspec.json.Decoder(list[tuple[str | None, str, str, int]])


def recount_rows(
    entries: Sequence[tuple[bytes, datetime]], time: Callable[[datetime], Any]
) -> tuple[list[Row], list[Row]]:
    """The counter rows (as ``flush_rows`` makes them, text left as it is) of every ``deduplicated`` decision in
    the given alert-log entries, each given as ``(decisions JSON, received_at)``."""
    alerts: dict[tuple[str, str], list[Any]] = {}
    incidents: dict[str, list[Any]] = {}
    for blob, received_at in entries:
        for incident_id, fp, action, event_us in _decisions.decode(blob):
            if action != "deduplicated" or incident_id is None:
                continue
            seen = EPOCH + timedelta(microseconds=event_us)
            a = alerts.setdefault((incident_id, fp), [0, seen])
            a[0] += 1
            a[1] = max(a[1], seen)
            i = incidents.setdefault(incident_id, [0, seen, received_at])
            i[0] += 1
            i[1] = max(i[1], seen)
            i[2] = max(i[2], received_at)
    return (
        [(n, time(seen), None, None, None, None, iid, fp) for (iid, fp), (n, seen) in alerts.items()],
        [(n, time(seen), time(updated), iid) for iid, (n, seen, updated) in incidents.items()],
    )


def page(items: list[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """A page of at most ``limit`` items from ``limit + 1`` fetched; the extra one says there is more."""
    if len(items) > limit:
        items = items[:limit]
        return Page(items, cursor_of(items[-1]))
    return Page(items, None)
