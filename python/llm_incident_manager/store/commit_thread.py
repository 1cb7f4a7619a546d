"""PostgreSQL commits on their own thread, event loop and connection.

A commit is several round trips (BEGIN, one ``executemany`` per table, COMMIT). On the service's event loop each
answer waits until the loop is free, and the loop spends milliseconds at a time deciding the next batches, so a
commit's round trips queued behind that work (docs/performance.md). Here they are answered by a loop that does
nothing else; the service's loop only hands the rows over and awaits the result.

Commits run one at a time, in the order they were handed over, on one connection: the order the writer decided
them in (``pipelined``, as the SQLite store's writer thread). Once one fails, the ones queued behind it are refused
until ``clear_failure`` (a later batch may build on a failed one's decisions); a connection that broke is replaced
at the next commit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import asyncpg

from llm_incident_manager.errors import Unavailable

__all__ = ["CommitThread"]

T = TypeVar("T")


class CommitThread:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lim-pg-commit", daemon=True)
        self._conn: Any = None
        self._lock: asyncio.Lock | None = None
        self._failed = False

    async def open(self) -> None:
        self._thread.start()
        await self._call(self._connect)

    async def close(self) -> None:
        if not self._thread.is_alive():
            return
        await self._call(self._disconnect)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._loop.close()

    def clear_failure(self) -> None:
        self._failed = False

    def start(self, work: Callable[[Any], Awaitable[T]]) -> asyncio.Future[T]:
        """``work(connection)`` in one transaction on the commit thread, after every commit started before it."""
        return asyncio.wrap_future(self._submit(lambda: self._commit(work)))

    def _submit(self, make: Callable[[], Awaitable[T]]) -> Future[T]:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.wrap_future(self._submit(fn))

    async def _connect(self) -> None:
        self._lock = asyncio.Lock()
        self._conn = await asyncpg.connect(self.url, command_timeout=self.timeout)

    async def _disconnect(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    async def _commit(self, work: Callable[[Any], Awaitable[T]]) -> T:
        assert self._lock is not None, "commit thread is not open"  # noqa: S101
        async with self._lock:  # FIFO: commits run in the order they were handed over
            if self._failed:
                raise Unavailable("a commit queued before this one failed", retry_after=1)
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self.url, command_timeout=self.timeout)
                async with self._conn.transaction():
                    return await work(self._conn)
            except BaseException:
                self._failed = True
                if self._conn is not None and not self._conn.is_closed():
                    # a timed-out statement may leave the connection mid-protocol: start afresh next time
                    self._conn.terminate()
                self._conn = None
                raise
