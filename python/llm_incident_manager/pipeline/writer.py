"""Group commit: batches that arrive while a transaction runs are written together in the next one.

After each commit the batches' counters (what repeats add) move to the projection buffer; every
``flush_interval`` seconds (or once ``flush_max`` alerts have counters waiting) the next transaction folds them
into the rows first (``pipeline.projection``).

A commit starts the moment a batch is submitted to an idle writer, not when the writer's task next gets a turn
of the event loop. A store that runs its commits one after the other in their own thread (``pipelined``:
SQLite) takes a second, deferred commit while one runs: its batches are taken from the queue by the store's
thread when it starts it (``start_deferred_commit``), so the thread goes from one commit to the next without
waiting for the event loop to hand the next one over, and the next one holds every batch that arrived
meanwhile (docs/performance.md). Such a second commit never folds in counters: the watermark a flush records
must not cover batches whose counters are not yet in the buffer. If a commit fails, the store refuses the one
queued behind it before taking anything from the queue (``clear_failure`` lets it commit again once the state
is reloaded). Each submitter awaits its own
batch's commit, so ``202`` is only sent once the batch is durable. If a commit
fails, every batch in it and every batch queued behind it fails (the callers answer 503 + Retry-After), and
``on_failure`` runs before anything else is decided: the pipeline reloads its in-memory state from the store,
so decisions made for the lost batches (which later batches may have built on) are forgotten with them. While
that runs, new batches are refused with 503 rather than decided on a state about to be replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from llm_incident_manager.errors import Unavailable
from llm_incident_manager.pipeline.projection import Bucket, ProjectionBuffer
from llm_incident_manager.pipeline.writeset import WriteSet

__all__ = ["GroupCommitWriter"]

log = logging.getLogger(__name__)

_Item = tuple[WriteSet | None, asyncio.Future[None]]
#: a commit under way: its batches, the counters it folds in, and what completes with its watermark
_Inflight = tuple[list[_Item], Bucket | None, Awaitable[int | None]]


class _Committer(Protocol):
    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None: ...


class _Deferring(Protocol):
    def start_deferred_commit(self, take: Callable[[], list[WriteSet]]) -> Awaitable[int | None]: ...


def _start_commit(store: _Committer, batches: Sequence[WriteSet], flush: Bucket | None) -> Awaitable[int | None]:
    """The store's commit, under way when this returns where the store can (``start_commit``: the SQLite store
    hands it to its thread at once), else as a task."""
    start = getattr(store, "start_commit", None)
    if start is not None:
        started: Awaitable[int | None] = start(batches, flush)
        return started
    return asyncio.ensure_future(store.commit(batches, flush))


class GroupCommitWriter:
    def __init__(
        self,
        store: _Committer,
        on_failure: Callable[[], Awaitable[None]],
        *,
        max_alerts: int = 5000,
        flush_interval: float = 1.0,
        flush_max: int = 2000,
        buffer: ProjectionBuffer | None = None,
    ) -> None:
        self._store = store
        self._on_failure = on_failure
        self._max_alerts = max_alerts
        self._flush_interval = flush_interval
        self._flush_max = flush_max
        self.buffer = buffer or ProjectionBuffer()
        self._next_flush = 0.0
        #: queued batches in decision order; ``None`` is a resync barrier (see ``resync``)
        self._pending: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: commits under way, oldest first: one, or two for a pipelined store
        self._inflight: deque[_Inflight] = deque()
        self._pipelined = bool(getattr(store, "pipelined", False))
        self._closing = False
        self._healthy = asyncio.Event()
        self._healthy.set()
        self.commits = 0
        self.batches = 0
        #: adds to each submitted batch what follows from it in the same transaction (the notification outbox)
        self.plan: Callable[[WriteSet], None] | None = None
        #: told of every committed group (wakes the notification worker)
        self.after_commit: Callable[[Sequence[WriteSet]], None] | None = None

    def start(self) -> None:
        self._next_flush = asyncio.get_running_loop().time() + self._flush_interval
        self._task = asyncio.create_task(self._run(), name="lim-group-commit")

    async def stop(self) -> None:
        """Commits what is queued, then stops; later submissions fail with Unavailable."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    @property
    def recovering(self) -> bool:
        return not self._healthy.is_set()

    async def ready(self) -> None:
        """Raises Unavailable while the state is being reloaded: nothing can be decided until it is, and a
        client that retries later loses nothing."""
        if not self._healthy.is_set():
            raise Unavailable("the service is reloading its state after a failure", retry_after=1)

    def submit(self, ws: WriteSet) -> asyncio.Future[None]:
        """Queues a batch; the future completes when it is committed (or fails with Unavailable)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_exception(Unavailable("the service is shutting down", retry_after=1))
            return future
        if self.plan is not None:
            try:
                self.plan(ws)
            except Exception as exc:  # nothing of the batch is written: the caller answers 503
                log.exception("planning the notifications of a batch failed")
                future.set_exception(Unavailable(f"planning notifications failed: {exc!r}", retry_after=1))
                return future
        self._pending.append((ws, future))
        self._wakeup.set()
        if self._task is not None:
            self._top_up()
        return future

    def resync(self) -> None:
        """The in-memory state may be wrong (a stage failed half-way through a batch): refuse new batches, let
        the queued ones commit, then reload the state from the store."""
        self._healthy.clear()
        self._pending.append((None, asyncio.get_running_loop().create_future()))
        self._wakeup.set()

    def _take(self, *, barrier: bool = True) -> list[_Item]:
        """The next group from the queue, up to ``max_alerts``; a resync barrier goes alone (``barrier``) or is
        left at the head (a deferred commit leaves it to the writer's task)."""
        taken: list[_Item] = []
        alerts = 0
        while self._pending and (not taken or alerts < self._max_alerts):
            ws = self._pending[0][0]
            if ws is None:  # a barrier goes alone
                if not taken and barrier:
                    taken.append(self._pending.popleft())
                break
            taken.append(self._pending.popleft())
            alerts += sum(len(entry.decisions) for entry in ws.log) + 1
        return taken

    async def _wait(self) -> None:
        """Until a batch is queued or, with counters waiting, the flush interval is over."""
        self._wakeup.clear()
        if not self.buffer.live:
            await self._wakeup.wait()
            return
        delay = self._next_flush - asyncio.get_running_loop().time()
        if delay > 0:
            try:
                await asyncio.wait_for(self._wakeup.wait(), delay)
            except TimeoutError:
                return

    def _flush_due(self) -> bool:
        """Counters wait, and the interval is over, or so many wait that folding them in at once would stall
        the batches queued behind that transaction."""
        live = self.buffer.live
        return bool(live) and (
            self._closing
            or len(live.alerts) >= self._flush_max
            or asyncio.get_running_loop().time() >= self._next_flush
        )

    def _top_up(self) -> None:
        """Starts a commit when none runs, or (pipelined store, no counters due) a deferred one behind it."""
        if not self._healthy.is_set():
            return
        if not self._inflight:
            self._start(flush=True)
        elif self._pipelined and len(self._inflight) == 1 and not self._flush_due():
            self._start_deferred()

    def _start_deferred(self) -> None:
        """Queues a commit behind the running one whose batches the store's thread takes from the queue when it
        starts it: every batch queued by then, not only those queued now. Only the store's thread takes from the
        queue while this commit is under way (the writer's task takes only when no commit is), and the queue is
        a deque, whose appends and pops are atomic, so the event loop can go on appending to it meanwhile."""
        if not self._pending or self._pending[0][0] is None:
            return
        group: list[_Item] = []

        def take() -> list[WriteSet]:
            group.extend(self._take(barrier=False))
            return [ws for ws, _ in group if ws is not None]

        store: _Deferring = self._store  # type: ignore[assignment]  # ``pipelined`` says it defers
        self._under_way(group, None, lambda: store.start_deferred_commit(take))

    def _under_way(self, group: list[_Item], bucket: Bucket | None, start: Callable[[], Awaitable[int | None]]) -> None:
        """``start()``s a commit and counts it under way; a store that cannot even start it fails it."""
        try:
            running = start()
        except Exception as exc:
            failed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            running = failed
        self._inflight.append((group, bucket, running))
        self._wakeup.set()

    def _start(self, *, flush: bool) -> bool:
        """Starts the next commit: the queued batches up to the limit, with the due counters when ``flush``. False
        when there is nothing to commit or a resync barrier is next (the writer's task handles that)."""
        if self._pending and self._pending[0][0] is None:
            return False
        due = flush and self._flush_due()
        if not self._pending and not due:
            return False
        group = self._take()
        # one transaction: the due counters first (so the watermark it records is the last alert-log id before
        # these batches), then the batches
        bucket = self.buffer.take() if due else None
        batches = [ws for ws, _ in group if ws is not None]
        self._under_way(group, bucket, lambda: _start_commit(self._store, batches, bucket))
        return True

    async def _commit(self, batches: list[WriteSet]) -> None:
        """Commits ``batches`` (and the due counters) now, outside the queue: the final flush and recovery."""
        bucket = self.buffer.take() if self._flush_due() else None
        try:
            watermark = await _start_commit(self._store, batches, bucket)
        except BaseException:
            if bucket is not None:
                self.buffer.failed(bucket)
            raise
        self._committed(batches, bucket, watermark)

    def _committed(self, batches: list[WriteSet], bucket: Bucket | None, watermark: int | None) -> None:
        if bucket is not None and watermark is not None:
            self.buffer.flushed(bucket, watermark)
            self._next_flush = asyncio.get_running_loop().time() + self._flush_interval
        for ws in batches:
            if ws.counters:
                self.buffer.add(ws.counters)
        if self.after_commit is not None:
            self.after_commit(batches)

    async def _run(self) -> None:
        while True:
            if not self._inflight:
                if not self._pending:
                    if self._closing:
                        if self.buffer.live:
                            try:
                                await self._commit([])
                            except Exception as exc:  # counters stay in the alert log; recounted at start
                                log.warning("final flush failed: %r", exc)
                        return
                    if not self._flush_due():
                        await self._wait()
                if not self._inflight:
                    if self._pending and self._pending[0][0] is None:
                        self._pending.popleft()  # the resync barrier: every batch before it is committed
                        await self._recover()
                        continue
                    if not self._start(flush=True):
                        continue
            group, bucket, running = self._inflight[0]
            try:
                watermark = await running
            except Exception as exc:
                await self._failed(exc)
                continue
            self._inflight.popleft()
            self._committed([ws for ws, _ in group if ws is not None], bucket, watermark)
            self.commits += 1
            self.batches += len(group)
            # the next commit starts before the submitters resume: its batches were decided while this one ran
            self._top_up()
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    async def _failed(self, exc: Exception) -> None:
        """The oldest commit under way failed: so does every batch behind it (the store refuses the commit queued
        behind a failed one), then the state is reloaded."""
        self._healthy.clear()
        inflight = list(self._inflight)
        self._inflight.clear()
        log.warning("commit of %d batches failed: %r", sum(len(g) for g, _, _ in inflight), exc)
        for _, _, later in inflight[1:]:  # let the store refuse it before anything else runs
            with contextlib.suppress(Exception):
                await later
        failed = [item for group, _, _ in inflight for item in group] + list(self._pending)
        self._pending.clear()
        for _, bucket, _ in inflight:
            if bucket is not None:
                self.buffer.failed(bucket)
        for _, future in failed:
            if not future.done():
                future.set_exception(Unavailable(f"the store did not commit: {exc!r}", retry_after=1))
        await self._recover()

    async def _recover(self) -> None:
        self._healthy.clear()
        clear = getattr(self._store, "clear_failure", None)
        delay = 0.05
        try:
            while True:
                if clear is not None:  # every attempt: a failed flush below makes the store refuse again
                    clear()
                try:
                    if self.buffer.live:  # the rows must hold every committed counter before the reload
                        self._next_flush = 0.0
                        await self._commit([])
                    await self._on_failure()
                    return
                except Exception as exc:  # keep trying until the store answers again
                    log.warning("reloading the state failed: %r; retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        finally:
            self._healthy.set()
