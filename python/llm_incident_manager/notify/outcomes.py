"""The dispatcher's outcome writes, group-committed.

A claimed batch of pages is sent concurrently, and every send's outcome (done, retry, given up, its timeline
events, thread refs, fallbacks) must be written before the page's lease runs out. Written one transaction per
send, a burst of deliveries (every group's window ending together, say) is a burst of small transactions with an
``fsync`` each, and in embedded mode they queue on the one SQLite writer ahead of the ingest commits (measured:
tens of ``finish_pages`` in a row, ingest commits waiting 20+ ms behind them; docs/performance.md). Here the first
outcome is written at once, the ones that arrive while it is being written go together in the next transaction,
and so on: each outcome is still written as soon as the store is free, never held back for others.

If a combined write fails, each of its parts is written again on its own, so one bad outcome cannot fail
another's; a part that fails alone raises to its caller, as a direct write would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from llm_incident_manager.domain.notifications import PageOutcome
from llm_incident_manager.pipeline.writeset import NewPage, TimelineRow
from llm_incident_manager.store.protocol import Store

__all__ = ["OutcomeWriter"]


@dataclass(frozen=True, slots=True)
class _Write:
    outcomes: Sequence[PageOutcome]
    now: datetime
    timeline: Sequence[TimelineRow]
    pages: Sequence[NewPage]
    threads: Sequence[tuple[str, str, str, str]]
    disabled: Sequence[tuple[str, str, str, datetime, str]]


class OutcomeWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[_Write, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0

    async def finish(
        self,
        outcomes: Sequence[PageOutcome],
        now: datetime,
        *,
        timeline: Sequence[TimelineRow] = (),
        pages: Sequence[NewPage] = (),
        threads: Sequence[tuple[str, str, str, str]] = (),
        disabled: Sequence[tuple[str, str, str, datetime, str]] = (),
    ) -> None:
        """``Store.finish_pages`` of these, in a transaction shared with the outcomes written at the same time."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((_Write(outcomes, now, timeline, pages, threads, disabled), future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="lim-page-outcomes")
        await future

    async def _drain(self) -> None:
        group: list[tuple[_Write, asyncio.Future[None]]] = []
        try:
            await self._drain_pending(group)
        finally:  # cancelled (shutdown): nobody is left to write these
            for _, future in group + self._pending:
                if not future.done():
                    future.cancel()

    async def _drain_pending(self, group: list[tuple[_Write, asyncio.Future[None]]]) -> None:
        while self._pending:
            group[:], self._pending = self._pending, []
            try:
                await self._write([w for w, _ in group])
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0][1], exc)
                    continue
                for write, future in group:  # one at a time, so only the bad one fails
                    try:
                        await self._write([write])
                    except Exception as alone:
                        _settle(future, alone)
                    else:
                        _settle(future, None)
            else:
                for _, future in group:
                    _settle(future, None)

    async def _write(self, writes: list[_Write]) -> None:
        self.transactions += 1
        await self._store.finish_pages(
            [o for w in writes for o in w.outcomes],
            max(w.now for w in writes),  # the rows' updated_at: the latest of the writes it holds
            timeline=[t for w in writes for t in w.timeline],
            pages=[p for w in writes for p in w.pages],
            threads=[t for w in writes for t in w.threads],
            disabled=[d for w in writes for d in w.disabled],
        )


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():  # its caller was cancelled: nobody waits for it
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
