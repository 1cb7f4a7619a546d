"""What one batch (or one responder action) changes, collected in memory and written in one transaction.

Two kinds of change:

* **Immediate** — new incidents and alerts, status changes, the timeline and the append-only alert log. They
  are written in the batch's own transaction, before its ``202``.
* **Counters** — what a repeat changes: how often an alert was seen, when it was last seen, its latest text.
  A repeat is already durable through its alert-log entry, so its counters wait in memory
  (``pipeline.projection``) and are folded into the incident rows in bulk every flush interval; reads add
  what is still waiting. After a crash the counters are recounted from the alert log past the last flush.

Rows are plain tuples and small mutable records, so the per-alert cost stays a few dict operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from llm_incident_manager.domain.alerts import Alert, AlertStatus, Severity
from llm_incident_manager.domain.incidents import IncidentStatus

__all__ = [
    "AlertStatusChange",
    "BatchLog",
    "Counter",
    "Decision",
    "EscalationWrite",
    "IncidentChange",
    "NewAlert",
    "NewIncident",
    "NewPage",
    "SplitRow",
    "SupersededRow",
    "TimelineRow",
    "WriteSet",
]


@dataclass(slots=True)
class NewIncident:
    id: str
    status: IncidentStatus
    severity: Severity
    title: str
    description: str | None
    source: str
    fingerprint: str
    service: str | None
    model: str | None
    model_version: str | None
    provider: str | None
    region: str | None
    env: str | None
    node: str | None
    labels: dict[str, str]
    created_at: datetime
    last_seen_at: datetime


@dataclass(slots=True)
class NewAlert:
    """The first occurrence of an alert in an incident (``count`` 1)."""

    incident_id: str
    fingerprint: str
    status: AlertStatus
    title: str
    severity: Severity
    source: str
    explicit: bool
    dedup_key: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    first_seen_at: datetime
    resolved_at: datetime | None = None
    service: str | None = None
    model: str | None = None
    env: str | None = None
    region: str | None = None
    node: str | None = None
    #: the scope of its explicit dedup key (``Alert.identity[0]``) when it has one
    key_scope: str | None = None


@dataclass(slots=True)
class IncidentChange:
    """An immediate change of an incident row: set fields overwrite, ``updated_at`` takes the maximum."""

    updated_at: datetime | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    #: alerts that joined the incident (correlation), added to ``alert_count``
    alerts_added: int = 0
    last_seen_at: datetime | None = None


@dataclass(slots=True)
class AlertStatusChange:
    status: AlertStatus
    resolved_at: datetime | None


class Counter(msgspec.Struct, gc=False):
    """What repeats (and resolves) of one alert of one incident add: folded in at the next flush."""

    count: int
    last_seen_at: datetime
    updated_at: datetime
    #: the latest text; None keeps the row's (a label fingerprint's repeat has the same labels; the wire path
    #: leaves out a text equal to the row's)
    title: str | None
    severity: Severity | None
    labels: dict[str, str] | None
    annotations: dict[str, str] | None

    def merge(self, later: Counter) -> None:
        self.count += later.count
        self.last_seen_at = max(self.last_seen_at, later.last_seen_at)
        self.updated_at = max(self.updated_at, later.updated_at)
        if later.title is not None:
            self.title, self.severity, self.annotations = later.title, later.severity, later.annotations
        if later.labels is not None:
            self.labels = later.labels


@dataclass(slots=True)
class NewPage:
    """A page for the notification outbox (``notify.planner``), written in the same transaction as the change
    that causes it."""

    id: str
    idempotency_key: str
    incident_id: str
    event: str
    receiver: str
    target: str
    channel: str
    recipient: str
    severity: str
    data: dict[str, Any]
    next_at: datetime
    digest: bool
    created_at: datetime
    fallback_of: str | None = None


@dataclass(slots=True)
class EscalationWrite:
    """An escalation row as it is after this change (``escalation``): inserted or replaced whole."""

    incident_id: str
    receiver: str
    policy: str
    state: str
    level: int
    cycle: int
    severity: str
    next_at: datetime | None
    updated_at: datetime


#: per alert of a batch, in request order: (incident_id or None, fingerprint, action, event time in µs)
Decision = tuple[str | None, str, str, int]


@dataclass(slots=True)
class BatchLog:
    """A batch's row of the alert log: its normalised alerts and what was decided for each."""

    received_at: datetime
    #: the normalised alerts, or (``DedupState.apply_wire``) the request's payload as it came, already JSON
    alerts: Sequence[Alert] | msgspec.Raw
    decisions: list[Decision]
    deduplicated: int


#: (incident_id, at, kind, actor, data)
TimelineRow = tuple[str, datetime, str, str, dict[str, Any]]
#: (old incident_id, fingerprint, new incident_id, resolved_at): the alert moved to a new incident
SupersededRow = tuple[str, str, str, datetime]
#: (incident_id, fingerprint, new incident_id, at, actor): a responder split the alert out of the incident
SplitRow = tuple[str, str, str, datetime, str]


@dataclass(slots=True)
class WriteSet:
    new_incidents: list[NewIncident] = field(default_factory=list)
    new_alerts: list[NewAlert] = field(default_factory=list)
    changes: dict[str, IncidentChange] = field(default_factory=dict)
    alert_status: dict[tuple[str, str], AlertStatusChange] = field(default_factory=dict)
    log: list[BatchLog] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    superseded: list[SupersededRow] = field(default_factory=list)
    splits: list[SplitRow] = field(default_factory=list)
    counters: dict[tuple[str, str], Counter] = field(default_factory=dict)
    pages: list[NewPage] = field(default_factory=list)
    escalations: list[EscalationWrite] = field(default_factory=list)
    #: (incident_id, state, next_at or None, updated_at): every escalation of the incident not done yet (ack, resolve)
    escalation_states: list[tuple[str, str, datetime | None, datetime]] = field(default_factory=list)

    def change(self, incident_id: str) -> IncidentChange:
        found = self.changes.get(incident_id)
        if found is None:
            found = self.changes[incident_id] = IncidentChange()
        return found

    def __bool__(self) -> bool:
        return bool(
            self.new_incidents
            or self.new_alerts
            or self.changes
            or self.alert_status
            or self.log
            or self.timeline
            or self.superseded
            or self.splits
            or self.counters
            or self.pages
            or self.escalations
            or self.escalation_states
        )
