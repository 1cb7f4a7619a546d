"""The ingest pipeline and the order of its stages; only this module knows it.

fingerprint (Rust, one call per batch) → dedup and correlation (in-memory state) → silences (an alert matching
an active silence is recorded with the action ``suppressed`` and the events it causes are marked so that they
page nobody) → persist (group commit, 202 after it; the writer's planner adds the pages of the batch's events to
the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from llm_incident_manager import _core
from llm_incident_manager.domain.alerts import Alert, EventAction
from llm_incident_manager.domain.incidents import Action, AlertResult
from llm_incident_manager.pipeline.dedup import DedupState, WireAlert
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import WriteSet
from llm_incident_manager.routing.inhibit import Inhibitor
from llm_incident_manager.routing.labels import routing_labels
from llm_incident_manager.routing.silences import Silencer
from llm_incident_manager.store.protocol import Store

__all__ = ["IngestPipeline"]


class IngestPipeline:
    def __init__(
        self,
        store: Store,
        state: DedupState,
        writer: GroupCommitWriter,
        silencer: Silencer | None = None,
        inhibitor: Inhibitor | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.writer = writer
        self.silencer = silencer
        self.inhibitor = inhibitor

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
        silencing = self.silencer is not None and self.silencer.live > 0
        if silencing or self.inhibitor is not None:
            self._suppress(alerts, results, ws, received_at, silencing)
        await self.writer.submit(ws)
        return results

    async def ingest_wire(
        self,
        items: Sequence[WireAlert],
        resolved: Sequence[bool],
        convert: Callable[[int], Alert],
        payload: bytes,
        received_at: datetime,
    ) -> list[AlertResult]:
        """``ingest`` for a decoded, validated Alertmanager payload (``DedupState.apply_wire``): repeats are
        decided without normalising them. With silences live or inhibit rules configured every alert needs its
        routing labels matched, so every alert is normalised and the batch takes ``ingest``."""
        await self.writer.ready()
        if (self.silencer is not None and self.silencer.live > 0) or self.inhibitor is not None:
            return await self.ingest([convert(i) for i in range(len(items))], received_at)
        fingerprints = _core.fingerprint_batch([item.labels for item in items])
        ws = WriteSet()
        try:
            results = self.state.apply_wire(items, fingerprints, resolved, received_at, ws, convert, payload)
        except Exception:
            self.writer.resync()
            raise
        await self.writer.submit(ws)
        return results

    def _suppress(
        self, alerts: Sequence[Alert], results: list[AlertResult], ws: WriteSet, at: datetime, silencing: bool
    ) -> None:
        """Marks the alerts an active silence matches or a firing alert inhibits: their result is ``suppressed``
        (the alert is recorded all the same) and the events they cause carry ``suppressed_by`` (``silence:<id>``
        or ``inhibit_rules[i]:<source fingerprint>``), which the planner does not page."""
        labels = [routing_labels(alert) for alert in alerts]
        inhibitor = self.inhibitor
        if inhibitor is not None:  # the batch's own sources count for its targets
            for alert, result, lab in zip(alerts, results, labels, strict=True):
                inhibitor.observe(result.fingerprint, lab, firing=alert.action is not EventAction.RESOLVE)
        reasons: dict[str, str] = {}
        for i, lab in enumerate(labels):
            result = results[i]
            reason = None
            if silencing:
                assert self.silencer is not None  # noqa: S101 - silencing says so
                silence_id = self.silencer.match(lab, at)
                reason = None if silence_id is None else f"silence:{silence_id}"
            if reason is None and inhibitor is not None and alerts[i].action is EventAction.TRIGGER:
                reason = inhibitor.inhibited(result.fingerprint, lab)
            if reason is not None:
                results[i] = AlertResult(result.incident_id, result.fingerprint, Action.SUPPRESSED)
                reasons[result.fingerprint] = reason
        if reasons:
            for row in ws.timeline:
                reason = reasons.get(row[4].get("fingerprint", ""))
                if reason is not None:
                    row[4]["suppressed_by"] = reason
