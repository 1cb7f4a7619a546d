"""Turns what a batch changed into pages, in the batch's own transaction (the outbox).

Every change worth telling someone is already a timeline event of the WriteSet: ``created``, ``alert_grouped``,
``severity_raised``, ``alert_refired``, ``acknowledged``, ``resolved``. For each one the planner adds a page
for every target of the incident's receivers that takes that kind of event. The receivers are chosen when the
incident opens, by the routing tree (``routing.tree``) on the labels of the alert that opened it, muted routes left
out; the service's own incidents (dead letters) go to ``notifications.self_monitoring_receiver``. Events of a
silenced alert (``suppressed_by``) page nobody.

The page's idempotency key is ``{incident}/{step}/{receiver}/{target}``: one logical page per (incident, step,
recipient, channel). The store drops a second page with a key it holds, so a step planned twice pages once. Alerts
added to an incident page once per ``group_interval`` window of its route (the step names the window), at the
window's end, as Alertmanager notifies a group's new alerts; each incident's windows are counted from its own
start, as Alertmanager times each group, so the pages of many incidents do not all fall due at one moment.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from llm_incident_manager.clock import Clock, SystemClock
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.ids import uuid7
from llm_incident_manager.notify.config import EventKind
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.writeset import NewAlert, NewPage, TimelineRow, WriteSet
from llm_incident_manager.routing.labels import complete_labels, row_labels

if TYPE_CHECKING:
    from llm_incident_manager.escalation.engine import EscalationPlanner

__all__ = ["SELF_SOURCE", "NotificationPlanner", "PlannedTarget", "alert_window", "step_of", "window_origin"]

#: the ``source`` of the service's own alerts (dead letters): their incidents go to the self-monitoring receiver
SELF_SOURCE = "lim"

_KINDS = {
    "created": EventKind.TRIGGERED,
    "alert_grouped": EventKind.ALERT_ADDED,
    "severity_raised": EventKind.SEVERITY_RAISED,
    "alert_refired": EventKind.REFIRED,
    "acknowledged": EventKind.ACKNOWLEDGED,
    "resolved": EventKind.RESOLVED,
}


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    """What the planner needs of a target (``notify.channels.Target`` carries it)."""

    receiver: str
    key: str
    channel: str
    recipient: str
    events: frozenset[EventKind]
    #: digest interval in seconds and the severities it gathers, when the target has a digest
    digest_interval: float | None = None
    digest_severities: frozenset[str] = frozenset()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def window_origin(incident_id: str) -> int:
    """Where an incident's ``group_interval`` windows are counted from, in epoch microseconds: the moment its id was
    made (a UUIDv7 carries it, in milliseconds), as Alertmanager counts a group's intervals from the group's start.
    So the windows of different incidents end at different moments, not all together on multiples of the interval.
    An id that is not a UUIDv7 counts from a point of the first day of the epoch taken from its SHA-256. Either way
    every instance, before and after a restart, finds the same windows."""
    if len(incident_id) == 36 and incident_id[14] == "7" and incident_id[8] == "-":
        try:
            return int(incident_id[:8] + incident_id[9:13], 16) * 1000
        except ValueError:
            pass
    digest = hashlib.sha256(incident_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 86_400_000 * 1000


def alert_window(at: datetime, origin_us: int, interval: float) -> tuple[int, datetime]:
    """The ``group_interval`` window holding ``at``, counted from ``origin_us``: its start (epoch µs) and its end."""
    step = max(round(interval * 1_000_000), 1)
    at_us = (at - _EPOCH) // _MICROSECOND
    start = origin_us + (at_us - origin_us) // step * step
    return start, _EPOCH + timedelta(microseconds=start + step)


def step_of(
    kind: EventKind, at: datetime, data: Mapping[str, Any], group_interval: float = 0.0, incident_id: str = ""
) -> str:
    """The step of an event within its incident: what makes its page one logical page. Alerts added to an incident
    make one step per ``group_interval`` window of that incident (``alert_window``; Alertmanager notifies a group's
    new alerts once per ``group_interval``), named by the window's start in epoch seconds to the millisecond;
    without an interval one step per alert."""
    if kind is EventKind.ALERT_ADDED:
        if group_interval > 0:
            start, _ = alert_window(at, window_origin(incident_id), group_interval)
            return f"alert_added@{start // 1000 / 1000:.3f}"
        return f"alert_added:{data.get('fingerprint', '')}"
    if kind is EventKind.SEVERITY_RAISED:
        return f"severity_raised:{data.get('to', '')}"
    if kind is EventKind.REFIRED:
        return f"refired:{data.get('fingerprint', '')}:{data.get('event_time', '')}"
    if kind is EventKind.ACKNOWLEDGED:  # an acknowledgement can come again once the routing issue adds timeouts
        return f"acknowledged:{int(at.timestamp() * 1_000_000)}"
    return kind.value


def next_digest(now: datetime, interval: float) -> datetime:
    """The next digest boundary after ``now``: multiples of the interval since the epoch, so every instance
    gathers the same pages into the same digest."""
    ts = now.timestamp()
    return datetime.fromtimestamp(math.floor(ts / interval) * interval + interval, UTC)


class NotificationPlanner:
    def __init__(
        self,
        targets: Mapping[str, Sequence[PlannedTarget]],
        root_receiver: str | None,
        self_receiver: str | None = None,
        clock: Clock | None = None,
        route: Callable[[Mapping[str, str], datetime], list[str]] | None = None,
        group_interval: Callable[[Mapping[str, str]], float] | None = None,
    ) -> None:
        #: receiver name → its targets
        self.targets = targets
        self.root = root_receiver
        self.self_receiver = self_receiver or root_receiver
        self.clock = clock or SystemClock()
        #: the routing tree (``routing.tree.Router.receivers``); None sends everything to the root receiver
        self.route = route
        #: the route's group_interval of an incident's first alert (``Router.group_interval``); None: no window
        self.group_interval = group_interval
        #: open incidents: id → (severity, receivers); resolved ones are forgotten
        self._open: dict[str, tuple[Severity, tuple[str, ...]]] = {}
        #: open incidents → their group_interval in seconds (0: every added alert pages)
        self._interval: dict[str, float] = {}
        #: open incidents → the alert_added step (window) they last planned: later alerts of that window plan no
        #: page (the store would drop it by its key; a restart forgets this and the store still drops it)
        self._added: dict[str, str] = {}
        #: every page planned since start (a metric)
        self.planned = 0
        #: open incidents that opened suppressed and have paged nobody since
        self._quiet: set[str] = set()
        #: escalation policies of receivers (``escalation.engine.EscalationPlanner``), set by the runtime
        self.escalation: EscalationPlanner | None = None

    def _receivers(self, source: str, labels: Mapping[str, str], at: datetime) -> tuple[str, ...]:
        """Where an incident's pages go: the routing tree on the labels of the alert that opened it (the
        service's own incidents go to the self-monitoring receiver)."""
        if source == SELF_SOURCE:
            return (self.self_receiver,) if self.self_receiver else ()
        if self.route is not None:
            return tuple(self.route(labels, at))
        return (self.root,) if self.root else ()

    def _group_interval(self, source: str, labels: Mapping[str, str]) -> float:
        if source == SELF_SOURCE or self.group_interval is None:
            return 0.0
        return self.group_interval(labels)

    def load(self, rows: Iterable[OpenAlertRow]) -> None:
        """The open incidents' severities and receivers after a (re)start, from their first alert."""
        self._open.clear()
        self._interval.clear()
        self._added.clear()
        now = self.clock.now()
        for row in rows:
            if row.incident_id not in self._open:
                labels = row_labels(row)
                self._open[row.incident_id] = (row.severity, self._receivers(row.source, labels, now))
                self._interval[row.incident_id] = self._group_interval(row.source, labels)

    def receivers_of(self, incident_id: str) -> tuple[str, ...]:
        found = self._open.get(incident_id)
        return found[1] if found is not None else ((self.root,) if self.root else ())

    def plan(self, ws: WriteSet) -> None:
        """Adds to ``ws.pages`` the pages of its timeline events."""
        if not ws.timeline:
            return
        now = self.clock.now()
        alerts = {(a.incident_id, a.fingerprint): a for a in ws.new_alerts} if ws.new_alerts else {}
        for n in ws.new_incidents:
            first = alerts.get((n.id, n.fingerprint))
            labels = complete_labels(first.labels if first is not None else n.labels, n.severity.value, n.title, n)
            self._open[n.id] = (n.severity, self._receivers(n.source, labels, now))
            self._interval[n.id] = self._group_interval(n.source, labels)
        for incident_id, change in ws.changes.items():
            if change.severity is not None and incident_id in self._open:
                self._open[incident_id] = (change.severity, self._open[incident_id][1])
        for row in ws.timeline:
            kind = _KINDS.get(row[2])
            if kind is None:
                continue
            incident_id = row[0]
            if "suppressed_by" in row[4]:
                if kind is EventKind.TRIGGERED:  # opened silenced or inhibited: quiet until something pages
                    self._quiet.add(incident_id)
                elif kind in (EventKind.ACKNOWLEDGED, EventKind.RESOLVED):
                    self._escalation_only(incident_id, kind, now, ws)
                continue
            if incident_id in self._quiet and kind in (EventKind.ACKNOWLEDGED, EventKind.RESOLVED):
                # nobody was told it opened: nobody is told it was answered (its escalation still ends)
                self._escalation_only(incident_id, kind, now, ws)
                continue
            self._quiet.discard(incident_id)
            new = alerts.get((incident_id, row[4].get("fingerprint", "")))
            self._plan_event(row, kind, now, ws, new)
        for incident_id, change in ws.changes.items():
            if change.resolved_at is not None:
                self._open.pop(incident_id, None)
                self._interval.pop(incident_id, None)
                self._added.pop(incident_id, None)
                self._quiet.discard(incident_id)

    def _escalation_only(self, incident_id: str, kind: EventKind, now: datetime, ws: WriteSet) -> None:
        if self.escalation is None:
            return
        if kind is EventKind.ACKNOWLEDGED:
            self.escalation.acknowledged(incident_id, self.receivers_of(incident_id), now, ws)
        else:
            self.escalation.resolved(incident_id, now, ws)

    def _plan_event(
        self, row: TimelineRow, kind: EventKind, now: datetime, ws: WriteSet, alert: NewAlert | None
    ) -> None:
        incident_id, at, _, actor, data = row
        severity, receivers = self._open.get(incident_id, (Severity.HIGH, (self.root,) if self.root else ()))
        if not receivers:
            return
        interval = self._interval.get(incident_id, 0.0) if kind is EventKind.ALERT_ADDED else 0.0
        step = step_of(kind, at, data, interval, incident_id)
        if interval > 0:
            if self._added.get(incident_id) == step:
                return
            self._added[incident_id] = step
        payload = {**data, "actor": actor}
        if alert is not None:  # what the templates show of the alert behind the event (links, value, threshold)
            payload["labels"] = alert.labels
            payload["annotations"] = alert.annotations
        for target in (t for receiver in receivers for t in self.targets.get(receiver, ())):
            if kind not in target.events:
                continue
            digest = target.digest_interval is not None and severity.value in target.digest_severities
            due = next_digest(now, target.digest_interval) if digest and target.digest_interval else now
            if interval > 0:  # one page for the window's added alerts, sent as the window closes
                due = max(due, alert_window(at, window_origin(incident_id), interval)[1])
            ws.pages.append(
                _page(incident_id, step, kind.value, target, severity.value, payload, now, next_at=due, digest=digest)
            )
            self.planned += 1
        escalation = self.escalation
        if escalation is not None:
            if kind is EventKind.TRIGGERED:
                for receiver in receivers:
                    escalation.start(incident_id, receiver, severity, payload, now, ws)
            elif kind is EventKind.ACKNOWLEDGED:
                escalation.acknowledged(incident_id, receivers, now, ws)
            elif kind is EventKind.RESOLVED:
                escalation.resolved(incident_id, now, ws)

    def pages_for(
        self,
        incident_id: str,
        step: str,
        kind: EventKind,
        severity: str,
        data: dict[str, Any],
        now: datetime,
        receiver: str,
    ) -> list[NewPage]:
        """The pages of one step on a receiver's own targets (an escalation level that names a receiver)."""
        return [
            _page(incident_id, step, kind.value, target, severity, data, now)
            for target in self.targets.get(receiver, ())
            if kind in target.events
        ]

    def fallback_pages(self, page: Any, receiver: str, now: datetime, reason: str) -> list[NewPage]:
        """The pages that take over ``page`` (a stored page row) on the targets of ``receiver`` that take its kind
        of event (none: the page is a dead letter)."""
        step = page.idempotency_key.split("/")[1]
        data = {**page.data, "fallback_from": f"{page.receiver}/{page.target}", "fallback_reason": reason}
        return [
            _page(page.incident_id, step, page.event, target, page.severity, data, now, fallback_of=page.id)
            for target in self.targets.get(receiver, ())
            if page.event in target.events
        ]


def _page(
    incident_id: str,
    step: str,
    event: str,
    target: PlannedTarget,
    severity: str,
    data: dict[str, Any],
    now: datetime,
    *,
    next_at: datetime | None = None,
    digest: bool = False,
    fallback_of: str | None = None,
) -> NewPage:
    """A page of one step of an incident for one target; its key makes it one logical page."""
    return NewPage(
        id=uuid7(),
        idempotency_key=f"{incident_id}/{step}/{target.receiver}/{target.key}",
        incident_id=incident_id,
        event=event,
        receiver=target.receiver,
        target=target.key,
        channel=target.channel,
        recipient=target.recipient,
        severity=severity,
        data=data,
        next_at=next_at or now,
        digest=digest,
        created_at=now,
        fallback_of=fallback_of,
    )
