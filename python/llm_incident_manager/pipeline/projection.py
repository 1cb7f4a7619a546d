"""Counters of committed repeats that are not yet folded into the incident rows, and the overlay that adds them
to what a read returns.

Every commit moves its batches' counters here; every flush interval the writer folds a bucket into the rows in
one transaction that also advances the store's watermark (the last alert-log id the rows include). A read
returns the watermark it saw, and adds every bucket that read could not yet see: the live bucket always, and a
flushed bucket when the read's watermark is older than that flush. So a read is exact whichever way it races
a flush, and a repeat costs an in-memory update plus its alert-log append.

A read holds ``reading()`` from before its store query until it has added the buckets: a flushed bucket is kept
only while a read that started before the flush landed is still going, and released as soon as none is. Kept
for a fixed time instead (it was 30 s), the buckets' keys and totals, a few hundred objects per flush, piled
up in the garbage collector's youngest generation, and every collection of it paused the event loop for
14-32 ms at 2,000 alerts/s (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from llm_incident_manager.domain.incidents import Incident, IncidentAlert
from llm_incident_manager.pipeline.writeset import Counter

__all__ = ["Bucket", "IncidentTotals", "ProjectionBuffer"]


@dataclass(slots=True)
class IncidentTotals:
    count: int
    last_seen_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Bucket:
    alerts: dict[tuple[str, str], Counter] = field(default_factory=dict)
    incidents: dict[str, IncidentTotals] = field(default_factory=dict)

    def add(self, key: tuple[str, str], counter: Counter) -> None:
        current = self.alerts.get(key)
        if current is None:
            self.alerts[key] = counter
        else:
            current.merge(counter)
        totals = self.incidents.get(key[0])
        if totals is None:
            self.incidents[key[0]] = IncidentTotals(counter.count, counter.last_seen_at, counter.updated_at)
        else:
            totals.count += counter.count
            totals.last_seen_at = max(totals.last_seen_at, counter.last_seen_at)
            totals.updated_at = max(totals.updated_at, counter.updated_at)

    def absorb(self, other: Bucket) -> None:
        for key, counter in other.alerts.items():
            self.add(key, counter)

    def __bool__(self) -> bool:
        return bool(self.alerts)


@dataclass(slots=True)
class _Flushed:
    #: the watermark before the flush: reads at it or older have not seen the bucket in the rows
    base: int
    bucket: Bucket
    #: the flushes landed, counting this one, once it has landed; None while it is in flight
    landed: int | None = None


class ProjectionBuffer:
    def __init__(self, watermark: int = 0) -> None:
        #: the watermark of the last flush that landed
        self.watermark = watermark
        self.live = Bucket()
        #: flushed buckets that a read may still need: in flight, or landed after a read under way started
        self._flushed: list[_Flushed] = []
        #: how many flushes have landed
        self._landed = 0
        #: reads under way, by the number of flushes landed when each started
        self._reads: dict[int, int] = {}

    # -- the writer's side ---------------------------------------------------------------------------
    def add(self, counters: dict[tuple[str, str], Counter]) -> None:
        for key, counter in counters.items():
            self.live.add(key, counter)

    def take(self) -> Bucket:
        """The live bucket, to flush; new counters go to a fresh one. Until the flush lands, reads that cannot
        see it yet (their watermark is the current one) still add the taken bucket."""
        taken, self.live = self.live, Bucket()
        self._flushed.append(_Flushed(self.watermark, taken))
        return taken

    def flushed(self, bucket: Bucket, new_watermark: int) -> None:
        """``bucket`` landed and moved the watermark to ``new_watermark``: reads at that watermark or later
        see it in the rows; it is kept while a read that started before this is under way."""
        self.watermark = new_watermark
        self._landed += 1
        for flushed in self._flushed:
            if flushed.bucket is bucket:
                flushed.landed = self._landed
        self._release()

    def failed(self, bucket: Bucket) -> None:
        """The flush of ``bucket`` did not land: its counters wait, live, for the next one."""
        self._flushed = [f for f in self._flushed if f.bucket is not bucket]
        bucket.absorb(self.live)
        self.live = bucket

    @property
    def kept(self) -> int:
        """How many flushed buckets are kept (in flight, or for reads under way)."""
        return len(self._flushed)

    # -- the readers' side ---------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Held by a read from before its store query until it has added the buckets (``incident``,
        ``alert``): the flushes that land meanwhile keep their buckets for it."""
        started = self._landed
        self._reads[started] = self._reads.get(started, 0) + 1
        try:
            yield
        finally:
            left = self._reads[started] - 1
            if left:
                self._reads[started] = left
            else:
                del self._reads[started]
            self._release()

    def _release(self) -> None:
        """Drops the landed buckets that no read under way can need: a read needs a bucket that landed after
        it started."""
        oldest = min(self._reads, default=self._landed)
        if any(f.landed is not None and f.landed <= oldest for f in self._flushed):
            self._flushed = [f for f in self._flushed if f.landed is None or f.landed > oldest]

    def _unseen(self, read_watermark: int) -> list[Bucket]:
        """The buckets a read at ``read_watermark`` did not see, oldest first (so the latest text wins)."""
        return [*(f.bucket for f in self._flushed if read_watermark <= f.base), self.live]

    def incident(self, incident: Incident, read_watermark: int) -> Incident:
        count, last_seen, updated = incident.alert_count, incident.last_seen_at, incident.updated_at
        for bucket in self._unseen(read_watermark):
            totals = bucket.incidents.get(incident.id)
            if totals is not None:
                count += totals.count
                last_seen = max(last_seen, totals.last_seen_at)
                updated = max(updated, totals.updated_at)
        if count == incident.alert_count and last_seen == incident.last_seen_at and updated == incident.updated_at:
            return incident
        return msgspec.structs.replace(incident, alert_count=count, last_seen_at=last_seen, updated_at=updated)

    def alert(self, alert: IncidentAlert, read_watermark: int) -> IncidentAlert:
        out = alert
        key = (alert.incident_id, alert.fingerprint)
        for bucket in self._unseen(read_watermark):
            counter = bucket.alerts.get(key)
            if counter is not None:
                out = msgspec.structs.replace(
                    out,
                    count=out.count + counter.count,
                    last_seen_at=max(out.last_seen_at, counter.last_seen_at),
                    title=out.title if counter.title is None else counter.title,
                    severity=out.severity if counter.severity is None else counter.severity,
                    labels=out.labels if counter.labels is None else counter.labels,
                    annotations=out.annotations if counter.annotations is None else counter.annotations,
                )
        return out
