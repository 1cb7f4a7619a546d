"""The ingest pipeline and the order of its stages; only this module knows it.

fingerprint (Rust, one call per batch) → dedup (in-memory state) → persist (group commit, 202 after it).
Correlation, routing and notification slot in between dedup and persist as the WriteSet grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llm_incident_manager.domain.alerts import Alert
from llm_incident_manager.domain.incidents import AlertResult
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import WriteSet
from llm_incident_manager.store.protocol import Store

__all__ = ["IngestPipeline"]


class IngestPipeline:
    def __init__(self, store: Store, state: DedupState, writer: GroupCommitWriter) -> None:
        self.store = store
        self.state = state
        self.writer = writer

    async def ingest(self, alerts: Sequence[Alert], received_at: datetime) -> list[AlertResult]:
        """Runs one batch through every stage; returns once it is durable, one result per alert in order."""
        await self.writer.ready()
        fingerprints = fingerprint_alerts(alerts)
        ws = WriteSet()
        try:
            results = self.state.apply(alerts, fingerprints, received_at, ws)
        except Exception:
            # the state may hold half of this batch's decisions: reload it once the queue has drained
            self.writer.resync()
            raise
        await self.writer.submit(ws)
        return results
