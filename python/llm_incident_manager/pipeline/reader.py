"""Reads of incidents and their alerts, exact to the last committed batch: the rows plus the counters that
are still waiting in the projection buffer (``pipeline.projection``). Each read holds the buffer's ``reading()``
from its store query to its overlay, so a flush that lands in between keeps its bucket for it."""

from __future__ import annotations

from collections.abc import Sequence

from llm_incident_manager.domain.incidents import Incident, IncidentAlert
from llm_incident_manager.pipeline.projection import ProjectionBuffer
from llm_incident_manager.store.protocol import IncidentQuery, Page, Store

__all__ = ["IncidentReader"]


class IncidentReader:
    def __init__(self, store: Store, buffer: ProjectionBuffer) -> None:
        self.store = store
        self.buffer = buffer

    async def get_incident(self, incident_id: str) -> Incident | None:
        with self.buffer.reading():
            incident, watermark = await self.store.get_incident(incident_id)
            return None if incident is None else self.buffer.incident(incident, watermark)

    async def get_incidents(self, incident_ids: Sequence[str]) -> dict[str, Incident]:
        """The incidents of these ids that exist, by id, in one read."""
        with self.buffer.reading():
            found, watermark = await self.store.get_incidents(incident_ids)
            return {key: self.buffer.incident(incident, watermark) for key, incident in found.items()}

    async def list_incidents(self, query: IncidentQuery) -> Page[Incident]:
        with self.buffer.reading():
            found, watermark = await self.store.list_incidents(query)
            return Page([self.buffer.incident(i, watermark) for i in found.items], found.next_cursor)

    async def list_alerts(self, incident_id: str, cursor: str | None, limit: int) -> Page[IncidentAlert]:
        with self.buffer.reading():
            found, watermark = await self.store.list_incident_alerts(incident_id, cursor, limit)
            return Page([self.buffer.alert(a, watermark) for a in found.items], found.next_cursor)

    async def get_alert(self, incident_id: str, alert_id: str) -> IncidentAlert | None:
        """The incident's alert by fingerprint, or by its ``id`` (its number)."""
        with self.buffer.reading():
            found, watermark = await self.store.list_incident_alerts(incident_id, None, 1, alert_id)
            if not found.items and alert_id.isdigit() and len(alert_id) <= 18:
                found, watermark = await self.store.list_incident_alerts(incident_id, str(int(alert_id) - 1), 1)
                if found.items and found.items[0].id != int(alert_id):
                    return None
            return self.buffer.alert(found.items[0], watermark) if found.items else None
