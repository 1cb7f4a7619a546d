"""The group-commit writer: coalescing, all-or-nothing failure, and the resync barrier.

The committer here is a recording double of the store's ``commit`` (the writer's only dependency); the real
stores are exercised by the integration tests."""

from __future__ import annotations

import asyncio

import pytest

from llm_incident_manager.errors import Unavailable
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import WriteSet


class Committer:
    def __init__(self) -> None:
        self.groups: list[list[WriteSet]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def commit(self, batches: list[WriteSet]) -> None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk gone")
        self.groups.append(batches)


async def test_batches_queued_during_a_commit_share_the_next_one() -> None:
    store, reloads = Committer(), []

    async def reload() -> None:
        reloads.append(1)

    writer = GroupCommitWriter(store, reload)
    writer.start()
    store.gate.clear()
    first = writer.submit(WriteSet())
    await asyncio.sleep(0)  # let the writer take the first batch and block in commit
    rest = [writer.submit(WriteSet()) for _ in range(5)]
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(g) for g in store.groups] == [1, 5]
    await writer.stop()
    assert reloads == []


async def test_a_failed_commit_fails_its_group_and_everything_queued_then_reloads() -> None:
    store = Committer()
    reloaded = asyncio.Event()

    async def reload() -> None:
        reloaded.set()

    writer = GroupCommitWriter(store, reload)
    writer.start()
    store.gate.clear()
    store.fail_next = True
    futures = [writer.submit(WriteSet())]
    await asyncio.sleep(0)
    futures += [writer.submit(WriteSet()) for _ in range(3)]
    store.gate.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    await reloaded.wait()
    await asyncio.sleep(0)  # one turn of the loop: the writer marks itself healthy right after reload returns
    await writer.ready()
    await writer.submit(WriteSet())
    assert len(store.groups) == 1
    await writer.stop()


async def test_resync_refuses_new_batches_until_the_queue_has_drained_and_state_reloaded() -> None:
    store = Committer()
    order: list[str] = []
    reloaded = asyncio.Event()

    async def reload() -> None:
        order.append(f"reload after {len(store.groups)} commits")
        reloaded.set()

    writer = GroupCommitWriter(store, reload)
    writer.start()
    store.gate.clear()
    queued = [writer.submit(WriteSet()) for _ in range(2)]
    writer.resync()
    with pytest.raises(Unavailable):
        await writer.ready()
    store.gate.set()
    await asyncio.gather(*queued)
    await reloaded.wait()
    await asyncio.sleep(0)  # one turn of the loop: the writer marks itself healthy right after reload returns
    assert not writer.recovering
    assert order == [f"reload after {len(store.groups)} commits"]
    assert sum(len(g) for g in store.groups) == 2
    await writer.ready()
    await writer.stop()


async def test_stop_commits_what_is_queued_and_refuses_the_rest() -> None:
    store = Committer()

    async def reload() -> None:
        return None

    writer = GroupCommitWriter(store, reload)
    writer.start()
    pending = [writer.submit(WriteSet()) for _ in range(3)]
    await writer.stop()
    await asyncio.gather(*pending)
    assert sum(len(g) for g in store.groups) == 3
    with pytest.raises(Unavailable):
        await writer.submit(WriteSet())
