"""Dedup stage: which open incident, if any, each alert of a batch belongs to.

State is in memory (rebuilt from the store at start-up) so a repeat costs a dict lookup, not a read from
the database. Rules (docs/dedup.md):

* an explicit dedup key matches the open incident holding it however long ago it was last seen (PagerDuty);
* a label fingerprint matches the open incident holding it while it repeats within ``window`` of that
  alert's last occurrence, in event time; after a longer silence a trigger opens a new incident;
* a resolve resolves the alert (whatever the window) and, when it was the incident's last firing alert, the
  incident; a resolve or acknowledge that matches nothing is ``ignored``;
* a trigger after the incident resolved opens a new incident.

A trigger that matches no open alert is offered to correlation (``correlation.state``) before it opens an
incident: when an open incident claims it, it joins that incident (``grouped``) with the evidence on the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec

from llm_incident_manager.correlation.state import CorrelationState, Features, Match, MemberRow
from llm_incident_manager.domain.alerts import Alert, AlertStatus, EventAction, Severity
from llm_incident_manager.domain.incidents import Action, AlertResult, IncidentAlert, IncidentStatus
from llm_incident_manager.errors import Conflict
from llm_incident_manager.ids import uuid7
from llm_incident_manager.ingest.alertmanager import severity_of, title_of
from llm_incident_manager.ingest.normalize import GO_ZERO_TIME_YEAR, dimensions, utc
from llm_incident_manager.pipeline.writeset import (
    AlertStatusChange,
    BatchLog,
    Counter,
    Decision,
    NewAlert,
    NewIncident,
    WriteSet,
)

__all__ = ["SEVERITY_RANK", "DedupState", "OpenAlertRow"]

SEVERITY_RANK = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.INFO: 4,
}
SYSTEM_ACTOR = "system"
_MICROSECOND = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WireAlert(Protocol):
    """What ``apply_wire`` reads of a decoded Alertmanager alert (webhook or API v2 shape)."""

    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def annotations(self) -> dict[str, str]: ...
    @property
    def starts_at(self) -> datetime | None: ...


_DIMS = ("service", "model", "env", "region", "node")


class OpenAlertRow(msgspec.Struct, frozen=True):
    """One alert of an open incident, as the store returns it to rebuild the state."""

    incident_id: str
    incident_status: IncidentStatus
    severity: Severity
    fingerprint: str
    status: AlertStatus
    last_seen_at: datetime
    explicit: bool
    title: str = ""
    labels: dict[str, str] = {}
    service: str | None = None
    model: str | None = None
    env: str | None = None
    region: str | None = None
    node: str | None = None
    key_scope: str | None = None
    source: str = ""


class _OpenAlert(msgspec.Struct, gc=False):
    """One open alert. Not tracked by the garbage collector (it makes no reference cycles): a million of these must
    not lengthen every collection."""

    incident_id: str
    last_seen: float
    explicit: bool
    firing: bool
    #: (title, severity, annotations) its row holds or its waiting counter will write; None when not known (after
    #: a restart): a repeat with the same text leaves the row's text alone, so a flush updates two numbers
    text: tuple[str, Severity, dict[str, str]] | None = None


def _opened(incident_id: str, alert: Alert, event_ts: float) -> _OpenAlert:
    """The entry of an alert that opens or joins an incident: firing, its row holding its text."""
    text = (alert.title, alert.severity, alert.annotations)
    return _OpenAlert(incident_id, event_ts, isinstance(alert.identity, tuple), True, text)


@dataclass(slots=True)
class _OpenIncident:
    id: str
    status: IncidentStatus
    severity: Severity
    fingerprints: set[str] = field(default_factory=set)
    firing: set[str] = field(default_factory=set)


class DedupState:
    """Open incidents and the alert fingerprints they hold."""

    def __init__(self, window_seconds: float, correlator: CorrelationState | None = None) -> None:
        self.window = window_seconds
        # correlation switched off in the configuration costs nothing: the stage is left out
        self.correlator = correlator if correlator is not None and correlator.config.enabled else None
        self._alerts: dict[str, _OpenAlert] = {}
        self._incidents: dict[str, _OpenIncident] = {}

    # -- state ---------------------------------------------------------------------------------------
    def load(self, rows: Iterable[OpenAlertRow], splits: Iterable[tuple[str, str]] = ()) -> None:
        """Replaces the state with the open alerts the store holds (oldest first) and the pairs responders split
        apart. Where two open incidents hold one fingerprint (a repeat after a long silence), the one seen last
        owns it."""
        self._alerts.clear()
        self._incidents.clear()
        rows = list(rows)
        if self.correlator is not None:
            self.correlator.load(
                (MemberRow(r.incident_id, r.fingerprint, r.title, r.labels,
                           {name: value for name in _DIMS if (value := getattr(r, name))}, r.key_scope,
                           r.last_seen_at.timestamp(), r.source)
                 for r in rows),
                splits,
            )  # fmt: skip
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

    def unacknowledge(self, incident_id: str) -> bool:
        """An acknowledged incident goes back to triggered (its escalation's ack timeout ran out)."""
        incident = self._incidents.get(incident_id)
        if incident is None or incident.status is not IncidentStatus.ACKNOWLEDGED:
            return False
        incident.status = IncidentStatus.TRIGGERED
        return True

    def close(self, incident_id: str) -> bool:
        """Forgets a resolved incident: its fingerprints no longer match. False when it was not open."""
        incident = self._incidents.pop(incident_id, None)
        if incident is None:
            return False
        if self.correlator is not None:
            self.correlator.remove_incident(incident_id)
        for fp in incident.fingerprints:
            entry = self._alerts.get(fp)
            if entry is not None and entry.incident_id == incident_id:
                del self._alerts[fp]
        return True

    def split(self, incident_id: str, alert: IncidentAlert, actor: str, now: datetime, ws: WriteSet) -> str:
        """Moves a firing alert out of an open incident into a new incident of its own (a responder's call that
        correlation was wrong); the pair is remembered so correlation never merges it back. Returns the new
        incident's id; raises Conflict when the incident is not open, the alert is not firing in it, or it is
        the incident's only alert."""
        fp = alert.fingerprint
        incident = self._incidents.get(incident_id)
        entry = self._alerts.get(fp)
        if incident is None:
            raise Conflict(f"incident {incident_id} is resolved; its alerts cannot be split out")
        if fp not in incident.fingerprints or entry is None or entry.incident_id != incident_id:
            raise Conflict(f"alert {fp} is no longer part of incident {incident_id}")
        if fp not in incident.firing:
            raise Conflict(f"alert {fp} is resolved; only a firing alert can be split out")
        if len(incident.fingerprints) < 2:
            raise Conflict(f"alert {fp} is the only alert of incident {incident_id}; there is nothing to split")
        new_id = uuid7(int(now.timestamp() * 1000))
        feat = None
        if self.correlator is not None:
            feat = self.correlator.split_out(incident_id, fp, new_id, entry.last_seen)
        dims = feat.dims if feat is not None else dimensions(alert.labels)
        self._incidents[new_id] = _OpenIncident(new_id, IncidentStatus.TRIGGERED, alert.severity, {fp}, {fp})
        entry.incident_id = new_id
        incident.fingerprints.discard(fp)
        incident.firing.discard(fp)
        ws.new_incidents.append(
            NewIncident(
                id=new_id, status=IncidentStatus.TRIGGERED, severity=alert.severity, title=alert.title,
                description=alert.annotations.get("description"), source=alert.source, fingerprint=fp,
                service=dims.get("service"), model=dims.get("model"), model_version=dims.get("model_version"),
                provider=dims.get("provider"), region=dims.get("region"), env=dims.get("env"), node=dims.get("node"),
                labels=alert.labels, created_at=now, last_seen_at=alert.last_seen_at,
            )
        )  # fmt: skip
        ws.new_alerts.append(
            NewAlert(
                incident_id=new_id, fingerprint=fp, status=AlertStatus.FIRING, title=alert.title,
                severity=alert.severity, source=alert.source, explicit=entry.explicit, dedup_key=alert.dedup_key,
                labels=alert.labels, annotations=alert.annotations, first_seen_at=alert.last_seen_at,
                service=dims.get("service"), model=dims.get("model"), env=dims.get("env"), region=dims.get("region"),
                node=dims.get("node"), key_scope=None if feat is None else feat.key_scope,
            )
        )  # fmt: skip
        ws.superseded.append((incident_id, fp, new_id, now))
        ws.splits.append((incident_id, fp, new_id, now, actor))
        ws.change(incident_id).updated_at = now
        ws.timeline.append(
            (incident_id, now, "alert_split", actor, {"fingerprint": fp, "title": alert.title, "incident_id": new_id})
        )
        ws.timeline.append(
            (new_id, now, "created", actor,
             {"fingerprint": fp, "title": alert.title, "severity": alert.severity.value, "split_from": incident_id})
        )  # fmt: skip
        if not incident.firing:
            self.close(incident_id)
            change = ws.change(incident_id)
            change.status = IncidentStatus.RESOLVED
            change.resolved_at = now
            change.resolved_by = SYSTEM_ACTOR
            ws.timeline.append(
                (incident_id, now, "resolved", SYSTEM_ACTOR,
                 {"reason": "its last firing alert was split out", "incident_id": new_id})
            )  # fmt: skip
        return new_id

    # -- the stage -----------------------------------------------------------------------------------
    def apply(
        self, alerts: Sequence[Alert], fingerprints: Sequence[str], received_at: datetime, ws: WriteSet
    ) -> list[AlertResult]:
        """Decides every alert of the batch in order, updates the state and records the rows to write.

        Runs without awaiting, so concurrent batches are decided one after the other."""
        results, decisions, deduplicated = self._decide(alerts, fingerprints, received_at, ws)
        ws.log.append(BatchLog(received_at, alerts, decisions, deduplicated))
        return results

    def apply_wire(
        self,
        items: Sequence[WireAlert],
        fingerprints: Sequence[str],
        resolved: Sequence[bool],
        received_at: datetime,
        ws: WriteSet,
        convert: Callable[[int], Alert],
        payload: bytes,
    ) -> list[AlertResult]:
        """``apply`` for a decoded Alertmanager payload, without normalising its repeats: an alert that is open
        and firing, repeats within the window and is no more severe than its incident is decided from its wire
        fields — an in-memory update, a counter and its decision. Every other alert (new, resolving, refiring,
        raising the severity, or sharing a fingerprint with one of those earlier in the batch) is normalised with
        ``convert(index)`` and decided by ``apply``'s rules. The alert log keeps ``payload``, the request's JSON
        as it came (already validated). ``resolved`` says, per alert, whether it resolves."""
        count = len(items)
        results: list[AlertResult | None] = [None] * count
        decisions: list[Decision | None] = [None] * count
        slow: list[int] = []
        held: set[str] = set()
        touched: dict[str, float] = {}
        counters = ws.counters
        get = self._alerts.get
        incidents = self._incidents
        window = self.window
        rank = SEVERITY_RANK
        deduplicated = 0
        for i, item in enumerate(items):
            fp = fingerprints[i]
            entry = get(fp)
            if entry is None or resolved[i] or not entry.firing or fp in held:
                slow.append(i)
                held.add(fp)
                continue
            start = item.starts_at
            if start is None or start.year == GO_ZERO_TIME_YEAR:
                event_time = received_at
            else:
                event_time = start if start.tzinfo is UTC else utc(start) or received_at
            event_us = (event_time - EPOCH) // _MICROSECOND
            event_ts = event_us / 1_000_000
            labels = item.labels
            severity = severity_of(labels)
            incident_id = entry.incident_id
            if (not entry.explicit and event_ts - entry.last_seen > window) or rank[severity] < rank[
                incidents[incident_id].severity
            ]:
                slow.append(i)
                held.add(fp)
                continue
            entry.last_seen = max(entry.last_seen, event_ts)
            if touched.get(incident_id, -1.0) < event_ts:
                touched[incident_id] = event_ts
            annotations = item.annotations
            title = title_of(labels, annotations)
            text = entry.text
            if text is not None and text[1] is severity and text[0] == title and text[2] == annotations:
                later = Counter(1, event_time, received_at, None, None, None, None)  # the row's text stands
            else:
                entry.text = (title, severity, annotations)
                later = Counter(1, event_time, received_at, title, severity, None, annotations)
            current = counters.get((incident_id, fp))
            if current is None:
                counters[(incident_id, fp)] = later
            else:
                current.merge(later)
            results[i] = AlertResult(incident_id, fp, Action.DEDUPLICATED)
            decisions[i] = (incident_id, fp, "deduplicated", event_us)
            deduplicated += 1
        if self.correlator is not None:
            for incident_id, event_ts in touched.items():
                self.correlator.touch(incident_id, event_ts)
        if slow:
            alerts = [convert(i) for i in slow]
            slow_results, slow_decisions, slow_deduplicated = self._decide(
                alerts, [fingerprints[i] for i in slow], received_at, ws
            )
            for i, result, decision in zip(slow, slow_results, slow_decisions, strict=True):
                results[i] = result
                decisions[i] = decision
            deduplicated += slow_deduplicated
        ws.log.append(BatchLog(received_at, msgspec.Raw(payload), decisions, deduplicated))  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def _decide(
        self, alerts: Sequence[Alert], fingerprints: Sequence[str], received_at: datetime, ws: WriteSet
    ) -> tuple[list[AlertResult], list[Decision], int]:
        results: list[AlertResult] = []
        append = results.append
        decisions: list[Decision] = []
        decide = decisions.append
        window = self.window
        deduplicated = 0
        features = self._features(alerts, fingerprints)
        for i, (alert, fp) in enumerate(zip(alerts, fingerprints, strict=True)):
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
                    continue
                feat = features.get(i)
                if feat is None and self.correlator is not None:  # its open alert went away earlier in this batch
                    feat = self.correlator.features([alert], [fp])[0]
                match = None
                if feat is not None and self.correlator is not None:
                    # its own incident may claim it back only while the incident is active within the dedup
                    # window (other alerts keep firing); else the silence makes this a new occurrence
                    exclude = None
                    if entry is not None:
                        last = self.correlator.last_activity(entry.incident_id)
                        if last is None or event_ts - last > window:
                            exclude = entry.incident_id
                    match = self.correlator.match(feat, event_ts, exclude)
                if match is None:
                    incident_id = self._create(alert, fp, event_ts, received_at, ws, feat)
                    append(AlertResult(incident_id, fp, Action.CREATED))
                    decide((incident_id, fp, "created", event_us))
                elif entry is not None and match.incident_id == entry.incident_id:
                    # silent longer than the dedup window, but its incident is still the one it belongs to
                    self._repeat(alert, fp, entry, event_ts, received_at, ws)
                    append(AlertResult(entry.incident_id, fp, Action.DEDUPLICATED))
                    decide((entry.incident_id, fp, "deduplicated", event_us))
                    deduplicated += 1
                else:
                    assert feat is not None  # noqa: S101 - a match implies features
                    self._group(alert, fp, match, feat, event_ts, received_at, ws)
                    append(AlertResult(match.incident_id, fp, Action.GROUPED))
                    decide((match.incident_id, fp, "grouped", event_us))
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
        return results, decisions, deduplicated

    def _features(self, alerts: Sequence[Alert], fingerprints: Sequence[str]) -> dict[int, Features]:
        """Correlation features of the triggers that may open an incident (no open alert holds them within the
        window), computed for the batch in one go; repeats, the bulk of a storm, need none."""
        if self.correlator is None:
            return {}
        get = self._alerts.get
        window = self.window
        wanted = []
        for i, (alert, fp) in enumerate(zip(alerts, fingerprints, strict=True)):
            if alert.action is EventAction.TRIGGER:
                entry = get(fp)
                if entry is None or (not entry.explicit and alert.event_time.timestamp() - entry.last_seen > window):
                    wanted.append(i)
        if not wanted:
            return {}
        found = self.correlator.features([alerts[i] for i in wanted], [fingerprints[i] for i in wanted])
        return dict(zip(wanted, found, strict=True))

    @staticmethod
    def _new_alert(incident_id: str, alert: Alert, fp: str, feat: Features | None) -> NewAlert:
        return NewAlert(
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
            service=alert.service,
            model=alert.model,
            env=alert.env,
            region=alert.region,
            node=alert.node,
            key_scope=None if feat is None else feat.key_scope,
        )

    def _group(
        self, alert: Alert, fp: str, match: Match, feat: Features, event_ts: float, received_at: datetime, ws: WriteSet
    ) -> None:
        """The alert joins the open incident correlation matched, with the evidence on its timeline."""
        incident_id = match.incident_id
        incident = self._incidents[incident_id]
        previous = self._alerts.get(fp)
        incident.fingerprints.add(fp)
        incident.firing.add(fp)
        self._alerts[fp] = _opened(incident_id, alert, event_ts)
        ws.new_alerts.append(self._new_alert(incident_id, alert, fp, feat))
        change = ws.change(incident_id)
        change.alerts_added += 1
        change.last_seen_at = (
            alert.event_time if change.last_seen_at is None else max(change.last_seen_at, alert.event_time)
        )
        change.updated_at = received_at
        actor = f"{alert.integration}:{alert.source}"
        ws.timeline.append((incident_id, received_at, "alert_grouped", actor, match.evidence(fp, alert.title)))
        self._raise_severity(incident, alert, fp, received_at, ws)
        assert self.correlator is not None  # noqa: S101 - only correlation groups
        self.correlator.add_member(incident_id, feat, event_ts)
        if previous is not None and previous.incident_id in self._incidents:
            self._supersede(previous.incident_id, fp, incident_id, alert, received_at, ws)

    def _create(
        self, alert: Alert, fp: str, event_ts: float, received_at: datetime, ws: WriteSet, feat: Features | None = None
    ) -> str:
        incident_id = uuid7(int(received_at.timestamp() * 1000))
        incident = _OpenIncident(incident_id, IncidentStatus.TRIGGERED, alert.severity, {fp}, {fp})
        self._incidents[incident_id] = incident
        previous = self._alerts.get(fp)
        self._alerts[fp] = _opened(incident_id, alert, event_ts)
        if self.correlator is not None and feat is not None:
            self.correlator.add_incident(incident_id, feat, event_ts)
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
        ws.new_alerts.append(self._new_alert(incident_id, alert, fp, feat))
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
        if self.correlator is not None:
            self.correlator.remove_member(old_id, fp)
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
        if self.correlator is not None:
            self.correlator.touch(incident_id, event_ts)
        if not entry.firing:
            entry.firing = True
            incident.firing.add(fp)
            ws.alert_status[(incident_id, fp)] = AlertStatusChange(AlertStatus.FIRING, None)
            ws.timeline.append(
                (incident_id, received_at, "alert_refired", f"{alert.integration}:{alert.source}",
                 {"fingerprint": fp, "event_time": alert.event_time.isoformat()})
            )  # fmt: skip
        entry.text = (alert.title, alert.severity, alert.annotations)  # what its counter writes
        self._count(incident_id, fp, alert, received_at, ws, 1)
        self._raise_severity(incident, alert, fp, received_at, ws)

    @staticmethod
    def _raise_severity(incident: _OpenIncident, alert: Alert, fp: str, received_at: datetime, ws: WriteSet) -> None:
        """An alert more severe than its incident raises the incident's severity (never lowers it)."""
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[incident.severity]:
            ws.timeline.append(
                (incident.id, received_at, "severity_raised", f"{alert.integration}:{alert.source}",
                 {"from": incident.severity.value, "to": alert.severity.value, "fingerprint": fp})
            )  # fmt: skip
            incident.severity = alert.severity
            change = ws.change(incident.id)
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
        entry.text = (alert.title, alert.severity, alert.annotations)  # what its counter writes
        self._count(incident_id, fp, alert, received_at, ws, 0)
        change = ws.change(incident_id)
        change.updated_at = received_at
        if not incident.firing:
            self.close(incident_id)
            change.status = IncidentStatus.RESOLVED
            change.resolved_at = received_at
            change.resolved_by = actor
            ws.timeline.append((incident_id, received_at, "resolved", actor, {"fingerprint": fp}))
