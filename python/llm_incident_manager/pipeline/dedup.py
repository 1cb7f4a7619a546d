"""Dedup stage: which open incident, if any, each alert of a batch belongs to.

State is in memory (rebuilt from the store at start-up) so a repeat costs a dict lookup, not a read from
the database. Rules (docs/dedup.md):

* an explicit dedup key matches the open incident holding it however long ago it was last seen (PagerDuty);
* a label fingerprint matches the open incident holding it while it repeats within ``window`` of that
  alert's last occurrence, in event time; after a longer silence a trigger opens a new incident;
* a resolve resolves the alert (whatever the window) and, when it was the incident's last firing alert, the
  incident; a resolve or acknowledge that matches nothing is ``ignored``;
* a trigger after the incident resolved opens a new incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from llm_incident_manager.domain.alerts import Alert, AlertStatus, EventAction, Severity
from llm_incident_manager.domain.incidents import Action, AlertResult, IncidentStatus
from llm_incident_manager.ids import uuid7
from llm_incident_manager.pipeline.writeset import AlertStatusChange, BatchLog, Counter, NewAlert, NewIncident, WriteSet

__all__ = ["SEVERITY_RANK", "DedupState", "OpenAlertRow"]

SEVERITY_RANK = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.INFO: 4,
}
SYSTEM_ACTOR = "system"


class OpenAlertRow(msgspec.Struct, frozen=True):
    """One alert of an open incident, as the store returns it to rebuild the state."""

    incident_id: str
    incident_status: IncidentStatus
    severity: Severity
    fingerprint: str
    status: AlertStatus
    last_seen_at: datetime
    explicit: bool


@dataclass(slots=True)
class _OpenAlert:
    incident_id: str
    last_seen: float
    explicit: bool
    firing: bool


@dataclass(slots=True)
class _OpenIncident:
    id: str
    status: IncidentStatus
    severity: Severity
    fingerprints: set[str] = field(default_factory=set)
    firing: set[str] = field(default_factory=set)


class DedupState:
    """Open incidents and the alert fingerprints they hold."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._alerts: dict[str, _OpenAlert] = {}
        self._incidents: dict[str, _OpenIncident] = {}

    # -- state ---------------------------------------------------------------------------------------
    def load(self, rows: Iterable[OpenAlertRow]) -> None:
        """Replaces the state with the open alerts the store holds. Where two open incidents hold one
        fingerprint (a repeat after a long silence), the one seen last owns it."""
        self._alerts.clear()
        self._incidents.clear()
        for row in rows:
            incident = self._incidents.get(row.incident_id)
            if incident is None:
                incident = self._incidents[row.incident_id] = _OpenIncident(
                    row.incident_id, row.incident_status, row.severity
                )
            incident.fingerprints.add(row.fingerprint)
            firing = row.status is AlertStatus.FIRING
            if firing:
                incident.firing.add(row.fingerprint)
            seen = row.last_seen_at.timestamp()
            current = self._alerts.get(row.fingerprint)
            if current is None or current.last_seen <= seen:
                self._alerts[row.fingerprint] = _OpenAlert(row.incident_id, seen, row.explicit, firing)

    @property
    def open_incidents(self) -> int:
        return len(self._incidents)

    @property
    def open_alerts(self) -> int:
        return len(self._alerts)

    def incident_status(self, incident_id: str) -> IncidentStatus | None:
        incident = self._incidents.get(incident_id)
        return None if incident is None else incident.status

    # -- responder actions ---------------------------------------------------------------------------
    def acknowledge(self, incident_id: str) -> bool:
        """Marks an open incident acknowledged; False when it is not open or already acknowledged."""
        incident = self._incidents.get(incident_id)
        if incident is None or incident.status is not IncidentStatus.TRIGGERED:
            return False
        incident.status = IncidentStatus.ACKNOWLEDGED
        return True

    def close(self, incident_id: str) -> bool:
        """Forgets a resolved incident: its fingerprints no longer match. False when it was not open."""
        incident = self._incidents.pop(incident_id, None)
        if incident is None:
            return False
        for fp in incident.fingerprints:
            entry = self._alerts.get(fp)
            if entry is not None and entry.incident_id == incident_id:
                del self._alerts[fp]
        return True

    # -- the stage -----------------------------------------------------------------------------------
    def apply(
        self, alerts: Sequence[Alert], fingerprints: Sequence[str], received_at: datetime, ws: WriteSet
    ) -> list[AlertResult]:
        """Decides every alert of the batch in order, updates the state and records the rows to write.

        Runs without awaiting, so concurrent batches are decided one after the other."""
        results: list[AlertResult] = []
        append = results.append
        decisions: list[tuple[str | None, str, str, int]] = []
        decide = decisions.append
        window = self.window
        deduplicated = 0
        for alert, fp in zip(alerts, fingerprints, strict=True):
            event_ts = alert.event_time.timestamp()
            event_us = int(event_ts * 1_000_000)
            entry = self._alerts.get(fp)
            action = alert.action
            if action is EventAction.TRIGGER:
                if entry is not None and (entry.explicit or event_ts - entry.last_seen <= window):
                    self._repeat(alert, fp, entry, event_ts, received_at, ws)
                    append(AlertResult(entry.incident_id, fp, Action.DEDUPLICATED))
                    decide((entry.incident_id, fp, "deduplicated", event_us))
                    deduplicated += 1
                else:
                    incident_id = self._create(alert, fp, event_ts, received_at, ws)
                    append(AlertResult(incident_id, fp, Action.CREATED))
                    decide((incident_id, fp, "created", event_us))
            elif entry is None:
                append(AlertResult(None, fp, Action.IGNORED))
                decide((None, fp, "ignored", event_us))
            elif action is EventAction.RESOLVE:
                self._resolve(alert, fp, entry, event_ts, received_at, ws)
                append(AlertResult(entry.incident_id, fp, Action.RESOLVED))
                decide((entry.incident_id, fp, "resolved", event_us))
            else:  # acknowledge (PagerDuty)
                incident_id = entry.incident_id
                if self.acknowledge(incident_id):
                    change = ws.change(incident_id)
                    change.status = IncidentStatus.ACKNOWLEDGED
                    change.acknowledged_at = received_at
                    change.acknowledged_by = f"{alert.integration}:{alert.source}"
                    change.updated_at = received_at
                    ws.timeline.append(
                        (incident_id, received_at, "acknowledged", change.acknowledged_by, {"fingerprint": fp})
                    )
                append(AlertResult(incident_id, fp, Action.ACKNOWLEDGED))
                decide((incident_id, fp, "acknowledged", event_us))
        ws.log.append(BatchLog(received_at, alerts, decisions, deduplicated))
        return results

    def _create(self, alert: Alert, fp: str, event_ts: float, received_at: datetime, ws: WriteSet) -> str:
        incident_id = uuid7(int(received_at.timestamp() * 1000))
        incident = _OpenIncident(incident_id, IncidentStatus.TRIGGERED, alert.severity, {fp}, {fp})
        self._incidents[incident_id] = incident
        previous = self._alerts.get(fp)
        self._alerts[fp] = _OpenAlert(incident_id, event_ts, isinstance(alert.identity, tuple), True)
        ws.new_incidents.append(
            NewIncident(
                id=incident_id,
                status=IncidentStatus.TRIGGERED,
                severity=alert.severity,
                title=alert.title,
                description=alert.description,
                source=alert.source,
                fingerprint=fp,
                service=alert.service,
                model=alert.model,
                model_version=alert.model_version,
                provider=alert.provider,
                region=alert.region,
                env=alert.env,
                node=alert.node,
                labels=alert.labels,
                created_at=received_at,
                last_seen_at=alert.event_time,
            )
        )
        ws.new_alerts.append(
            NewAlert(
                incident_id=incident_id,
                fingerprint=fp,
                status=alert.status,
                title=alert.title,
                severity=alert.severity,
                source=alert.source,
                explicit=isinstance(alert.identity, tuple),
                dedup_key=alert.dedup_key,
                labels=alert.labels,
                annotations=alert.annotations,
                first_seen_at=alert.event_time,
            )
        )
        data: dict[str, object] = {"fingerprint": fp, "title": alert.title, "severity": alert.severity.value}
        if previous is not None:
            data["previous_incident_id"] = previous.incident_id
        ws.timeline.append((incident_id, received_at, "created", f"{alert.integration}:{alert.source}", data))
        if previous is not None and previous.incident_id in self._incidents:
            self._supersede(previous.incident_id, fp, incident_id, alert, received_at, ws)
        return incident_id

    def _supersede(self, old_id: str, fp: str, new_id: str, alert: Alert, received_at: datetime, ws: WriteSet) -> None:
        """The alert went silent for longer than the window and fired again as incident ``new_id``: the old
        incident lets go of it (its row is marked superseded, so a rebuild agrees), and resolves if that was its
        last firing alert."""
        old = self._incidents[old_id]
        old.fingerprints.discard(fp)
        was_firing = fp in old.firing
        old.firing.discard(fp)
        ws.superseded.append((old_id, fp, new_id, alert.event_time))
        ws.timeline.append(
            (old_id, received_at, "alert_superseded", SYSTEM_ACTOR, {"fingerprint": fp, "incident_id": new_id})
        )
        if was_firing and not old.firing:
            self.close(old_id)
            change = ws.change(old_id)
            change.status = IncidentStatus.RESOLVED
            change.resolved_at = received_at
            change.resolved_by = SYSTEM_ACTOR
            change.updated_at = received_at
            ws.timeline.append(
                (old_id, received_at, "resolved", SYSTEM_ACTOR,
                 {"reason": "its last firing alert went silent beyond the dedup window and fired again as a new "
                  "incident", "incident_id": new_id})
            )  # fmt: skip

    @staticmethod
    def _count(incident_id: str, fp: str, alert: Alert, received_at: datetime, ws: WriteSet, n: int) -> None:
        """Adds ``n`` occurrences of the alert to the counters folded in at the next flush."""
        later = Counter(n, alert.event_time, received_at, alert.title, alert.severity, alert.labels, alert.annotations)
        current = ws.counters.get((incident_id, fp))
        if current is None:
            ws.counters[(incident_id, fp)] = later
        else:
            current.merge(later)

    def _repeat(
        self, alert: Alert, fp: str, entry: _OpenAlert, event_ts: float, received_at: datetime, ws: WriteSet
    ) -> None:
        """A repeat: an in-memory update and the alert-log append (made by ``apply``); no row is read or
        rewritten unless the alert fires again after it resolved or raises the severity."""
        incident_id = entry.incident_id
        entry.last_seen = max(entry.last_seen, event_ts)
        incident = self._incidents[incident_id]
        if not entry.firing:
            entry.firing = True
            incident.firing.add(fp)
            ws.alert_status[(incident_id, fp)] = AlertStatusChange(AlertStatus.FIRING, None)
            ws.timeline.append(
                (incident_id, received_at, "alert_refired", f"{alert.integration}:{alert.source}",
                 {"fingerprint": fp, "event_time": alert.event_time.isoformat()})
            )  # fmt: skip
        self._count(incident_id, fp, alert, received_at, ws, 1)
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[incident.severity]:
            ws.timeline.append(
                (incident_id, received_at, "severity_raised", f"{alert.integration}:{alert.source}",
                 {"from": incident.severity.value, "to": alert.severity.value, "fingerprint": fp})
            )  # fmt: skip
            incident.severity = alert.severity
            change = ws.change(incident_id)
            change.severity = alert.severity
            change.updated_at = received_at

    def _resolve(
        self, alert: Alert, fp: str, entry: _OpenAlert, event_ts: float, received_at: datetime, ws: WriteSet
    ) -> None:
        incident_id = entry.incident_id
        incident = self._incidents[incident_id]
        entry.last_seen = max(entry.last_seen, event_ts)
        actor = f"{alert.integration}:{alert.source}"
        if entry.firing:
            entry.firing = False
            incident.firing.discard(fp)
            ws.alert_status[(incident_id, fp)] = AlertStatusChange(AlertStatus.RESOLVED, alert.event_time)
            ws.timeline.append(
                (incident_id, received_at, "alert_resolved", actor,
                 {"fingerprint": fp, "event_time": alert.event_time.isoformat()})
            )  # fmt: skip
        self._count(incident_id, fp, alert, received_at, ws, 0)
        change = ws.change(incident_id)
        change.updated_at = received_at
        if not incident.firing:
            self.close(incident_id)
            change.status = IncidentStatus.RESOLVED
            change.resolved_at = received_at
            change.resolved_by = actor
            ws.timeline.append((incident_id, received_at, "resolved", actor, {"fingerprint": fp}))
