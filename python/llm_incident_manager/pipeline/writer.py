"""Group commit: batches that arrive while a transaction runs are written together in the next one.

Each submitter awaits its own batch's commit, so ``202`` is only sent once the batch is durable. If a commit
fails, every batch in it fails (the caller answers 503) and ``on_failure`` runs before anything else is
written: the pipeline reloads its in-memory state from the store, so decisions made for the lost batches
(which later batches may have built on) are forgotten with them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from llm_incident_manager.errors import Unavailable
from llm_incident_manager.pipeline.writeset import WriteSet

__all__ = ["GroupCommitWriter"]

log = logging.getLogger(__name__)


class _Committer(Protocol):
    async def commit(self, batches: list[WriteSet]) -> None: ...


class GroupCommitWriter:
    def __init__(
        self,
        store: _Committer,
        on_failure: Callable[[], Awaitable[None]],
        *,
        max_alerts: int = 5000,
    ) -> None:
        self._store = store
        self._on_failure = on_failure
        self._max_alerts = max_alerts
        self._pending: list[tuple[WriteSet, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: True while a failed commit's state is being reloaded: new batches wait for it.
        self._recovering: asyncio.Event = asyncio.Event()
        self._recovering.set()
        self.commits = 0
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lim-group-commit")

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    @property
    def recovering(self) -> bool:
        return not self._recovering.is_set()

    async def ready(self) -> None:
        """Raises Unavailable while a failed commit is being recovered from: nothing can be decided until the
        state is reloaded from the store, and a client that retries later loses nothing."""
        if not self._recovering.is_set():
            raise Unavailable("the service is recovering from a store failure", retry_after=1)

    def submit(self, ws: WriteSet) -> asyncio.Future[None]:
        """Queues a batch; the future completes when it is committed (or fails with Unavailable)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_exception(Unavailable("the service is shutting down", retry_after=1))
            return future
        self._pending.append((ws, future))
        self._wakeup.set()
        return future

    def _take(self) -> list[tuple[WriteSet, asyncio.Future[None]]]:
        taken: list[tuple[WriteSet, asyncio.Future[None]]] = []
        alerts = 0
        while self._pending and (not taken or alerts < self._max_alerts):
            item = self._pending.pop(0)
            taken.append(item)
            alerts += len(item[0].events) + 1
        return taken

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            group = self._take()
            try:
                await self._store.commit([ws for ws, _ in group])
            except Exception as exc:
                log.warning("commit of %d batches failed: %r", len(group), exc)
                failed = group + self._pending
                self._pending = []
                for _, future in failed:
                    if not future.done():
                        future.set_exception(Unavailable(f"the store did not commit: {exc!r}", retry_after=1))
                await self._recover()
                continue
            self.commits += 1
            self.batches += len(group)
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    async def _recover(self) -> None:
        self._recovering.clear()
        try:
            while True:
                try:
                    await self._on_failure()
                    return
                except Exception as exc:
                    log.warning("reloading state after a failed commit failed: %r; retrying", exc)
                    await asyncio.sleep(1.0)
        finally:
            self._recovering.set()
