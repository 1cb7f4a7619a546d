"""What one batch (or one responder action) changes, collected in memory and written in one transaction.

Rows are plain tuples and small mutable records so the per-alert cost stays a few dict operations; the store
turns them into one ``executemany`` per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm_incident_manager.domain.alerts import AlertStatus, Severity
from llm_incident_manager.domain.incidents import IncidentStatus

__all__ = ["AlertEventRow", "AlertUpsert", "IncidentChange", "NewIncident", "SupersededRow", "TimelineRow", "WriteSet"]


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
class IncidentChange:
    """A delta to an existing incident row: counts add, times take the maximum, the rest overwrite."""

    alert_count: int = 0
    last_seen_at: datetime | None = None
    updated_at: datetime | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


@dataclass(slots=True)
class AlertUpsert:
    """Insert-or-update of one distinct alert of an incident."""

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
    last_seen_at: datetime
    count: int = 0
    resolved_at: datetime | None = None


#: (incident_id or None, fingerprint, action, status, event_time, received_at, payload JSON)
AlertEventRow = tuple[str | None, str, str, str, datetime, datetime, bytes]
#: (incident_id, at, kind, actor, data)
TimelineRow = tuple[str, datetime, str, str, dict[str, Any]]
#: (old incident_id, fingerprint, new incident_id, resolved_at): the alert moved to a new incident
SupersededRow = tuple[str, str, str, datetime]


@dataclass(slots=True)
class WriteSet:
    new_incidents: list[NewIncident] = field(default_factory=list)
    changes: dict[str, IncidentChange] = field(default_factory=dict)
    alerts: dict[tuple[str, str], AlertUpsert] = field(default_factory=dict)
    events: list[AlertEventRow] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    superseded: list[SupersededRow] = field(default_factory=list)

    def change(self, incident_id: str) -> IncidentChange:
        found = self.changes.get(incident_id)
        if found is None:
            found = self.changes[incident_id] = IncidentChange()
        return found

    def __bool__(self) -> bool:
        return bool(
            self.new_incidents or self.changes or self.alerts or self.events or self.timeline or self.superseded
        )
