"""What responders do to incidents: acknowledge, resolve, add notes. Each is a timeline event plus the
projection's change, written through the same group-commit writer as ingest so the order is one."""

from __future__ import annotations

from datetime import datetime

from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.errors import Conflict, NotFound
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.reader import IncidentReader
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import WriteSet

__all__ = ["ResponderActions"]


class ResponderActions:
    def __init__(self, reader: IncidentReader, state: DedupState, writer: GroupCommitWriter) -> None:
        self.reader = reader
        self.state = state
        self.writer = writer

    async def _existing(self, incident_id: str) -> Incident:
        incident = await self.reader.get_incident(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        return incident

    async def acknowledge(self, incident_id: str, actor: str, now: datetime) -> Incident:
        await self.writer.ready()
        status = self.state.incident_status(incident_id)
        if status is None:
            await self._existing(incident_id)
            await self.writer.ready()  # the state may have been reloaded during the read
            if self.state.incident_status(incident_id) is None:
                raise Conflict(f"incident {incident_id} is resolved; it cannot be acknowledged")
            status = self.state.incident_status(incident_id)
        if status is IncidentStatus.TRIGGERED and self.state.acknowledge(incident_id):
            ws = WriteSet()
            change = ws.change(incident_id)
            change.status = IncidentStatus.ACKNOWLEDGED
            change.acknowledged_at = now
            change.acknowledged_by = actor
            change.updated_at = now
            ws.timeline.append((incident_id, now, "acknowledged", actor, {}))
            await self.writer.submit(ws)
        return await self._existing(incident_id)

    async def resolve(self, incident_id: str, actor: str, now: datetime) -> Incident:
        await self.writer.ready()
        if self.state.close(incident_id):
            ws = WriteSet()
            change = ws.change(incident_id)
            change.status = IncidentStatus.RESOLVED
            change.resolved_at = now
            change.resolved_by = actor
            change.updated_at = now
            ws.timeline.append((incident_id, now, "resolved", actor, {}))
            await self.writer.submit(ws)
        return await self._existing(incident_id)

    async def split(self, incident_id: str, alert_id: str, actor: str, now: datetime) -> tuple[Incident, Incident]:
        """Moves a firing alert out of the incident into a new one (docs/correlation.md); returns (the old incident,
        the new one). 404 when either does not exist, 409 when the split is not possible."""
        await self.writer.ready()
        await self._existing(incident_id)
        alert = await self.reader.get_alert(incident_id, alert_id)
        if alert is None:
            raise NotFound(f"incident {incident_id} has no alert {alert_id}")
        await self.writer.ready()  # the state may have been reloaded during the reads
        ws = WriteSet()
        new_id = self.state.split(incident_id, alert, actor, now, ws)
        await self.writer.submit(ws)
        new = await self._existing(new_id)
        return await self._existing(incident_id), new

    async def note(self, incident_id: str, actor: str, text: str, now: datetime) -> None:
        await self.writer.ready()
        if self.state.incident_status(incident_id) is None:
            await self._existing(incident_id)
            await self.writer.ready()
        ws = WriteSet()
        ws.change(incident_id).updated_at = now
        ws.timeline.append((incident_id, now, "note", actor, {"text": text}))
        await self.writer.submit(ws)
