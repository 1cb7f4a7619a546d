"""PostgreSQL commits on their own thread (store.commit_thread): they run in the order they were started, one after
the other, a failed one makes the ones queued behind it fail too until the failure is cleared, and a broken
connection is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions import InternalClientError

from llm_incident_manager.errors import Unavailable
from llm_incident_manager.store.commit_thread import CommitThread


@pytest.fixture
async def commits(pg_url: str) -> AsyncIterator[tuple[CommitThread, str]]:
    url = pg_url
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE log (seq BIGSERIAL PRIMARY KEY, n INT NOT NULL)")
    await conn.close()
    thread = CommitThread(url, timeout=5.0)
    await thread.open()
    try:
        yield thread, url
    finally:
        await thread.close()


async def _logged(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch("SELECT n FROM log ORDER BY seq")]
    finally:
        await conn.close()


def _insert(n: int) -> Callable[[Any], Any]:
    async def work(conn: Any) -> int:
        await conn.execute("INSERT INTO log (n) VALUES ($1)", n)
        await asyncio.sleep(0)  # give the other commits every chance to cut in
        await conn.execute("INSERT INTO log (n) VALUES ($1)", n)
        return n

    return work


async def test_commits_run_in_the_order_they_were_started(commits: tuple[CommitThread, str]) -> None:
    thread, url = commits
    results = await asyncio.gather(*[thread.start(_insert(n)) for n in range(40)])
    assert results == list(range(40))
    assert await _logged(url) == [n for n in range(40) for _ in (0, 1)]  # each whole, none interleaved


async def test_a_failed_commit_fails_those_behind_it_until_cleared(commits: tuple[CommitThread, str]) -> None:
    thread, url = commits

    async def fail(conn: Any) -> None:
        await conn.execute("INSERT INTO log (n) VALUES (100)")
        await conn.execute("SELECT 1/0")

    first = thread.start(_insert(1))
    failing = thread.start(fail)
    behind = thread.start(_insert(2))
    assert await first == 1
    with pytest.raises(asyncpg.DivisionByZeroError):
        await failing
    with pytest.raises(Unavailable):
        await behind
    with pytest.raises(Unavailable):  # still refused: the writer has not reloaded its state yet
        await thread.start(_insert(3))
    thread.clear_failure()
    assert await thread.start(_insert(4)) == 4  # on a new connection: the failed one was dropped
    assert await _logged(url) == [1, 1, 4, 4]  # nothing of the failed commit, nor of those refused


async def test_a_broken_connection_is_replaced(commits: tuple[CommitThread, str]) -> None:
    thread, url = commits
    assert await thread.start(_insert(1)) == 1
    admin = await asyncpg.connect(url)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert killed == 1
    # whether the commit thread saw its connection close before the next commit is a race with the server: either
    # that commit runs on a new connection, or it fails (503 upstream) and the one after it does
    try:
        assert await thread.start(_insert(2)) == 2
        expected = [1, 1, 2, 2, 3, 3]
    except (asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError, ConnectionError, OSError):
        thread.clear_failure()
        expected = [1, 1, 3, 3]
    assert await thread.start(_insert(3)) == 3
    assert await _logged(url) == expected
