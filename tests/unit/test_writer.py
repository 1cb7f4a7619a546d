"""The group-commit writer: coalescing, all-or-nothing failure, and the resync barrier.

The committer here is a recording double of the store's ``commit`` (the writer's only dependency); the real
stores are exercised by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.errors import Unavailable
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import Counter, WriteSet

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Committer:
    def __init__(self) -> None:
        self.groups: list[list[WriteSet]] = []
        self.flushes: list[dict[tuple[str, str], int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.fail_next_flush = False
        self.watermark = 0
        self.flushed = asyncio.Event()

    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk gone")
        if flush is not None and self.fail_next_flush:
            self.fail_next_flush = False
            raise OSError("disk gone during a flush")
        if batches:
            self.groups.append(list(batches))
        if flush is None:
            return None
        self.flushes.append({key: c.count for key, c in flush.alerts.items()})
        self.flushed.set()
        self.watermark += 1
        return self.watermark


def repeats(incident: str, fp: str, n: int) -> WriteSet:
    ws = WriteSet()
    ws.counters[(incident, fp)] = Counter(n, T0, T0, "t", Severity.HIGH, {}, {})
    return ws


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


async def test_counters_wait_in_the_buffer_until_the_flush_interval_or_stop() -> None:
    store = Committer()

    async def reload() -> None:
        return None

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    await writer.submit(repeats("i1", "fp", 3))
    await writer.submit(repeats("i1", "fp", 2))
    # committed: the counters wait in memory (reads add them), no row was rewritten
    assert writer.buffer.live.alerts[("i1", "fp")].count == 5
    assert writer.buffer.live.incidents["i1"].count == 5
    assert store.flushes == []
    await writer.stop()
    assert store.flushes == [{("i1", "fp"): 5}]
    assert not writer.buffer.live


async def test_a_due_flush_is_written_at_once_and_a_failed_one_is_retried_before_the_reload() -> None:
    store = Committer()
    reloads: list[dict[tuple[str, str], int]] = []

    reloaded = asyncio.Event()

    async def reload() -> None:
        # by the time the state is reloaded, every committed counter is in the rows
        reloads.append(dict(store.flushes[-1]) if store.flushes else {})
        reloaded.set()

    writer = GroupCommitWriter(store, reload, flush_interval=0.0)
    writer.start()
    await writer.submit(repeats("i1", "fp", 3))
    await asyncio.wait_for(store.flushed.wait(), 5)  # the writer flushes as soon as it is due
    assert store.flushes == [{("i1", "fp"): 3}]
    assert writer.buffer.watermark == 1
    assert not writer.buffer.live
    store.fail_next_flush = True
    await writer.submit(repeats("i1", "fp", 2))
    await asyncio.wait_for(reloaded.wait(), 5)
    # the flush failed, its counters were kept, flushed again before the reload, and nothing was lost
    assert reloads == [{("i1", "fp"): 2}]
    assert store.flushes == [{("i1", "fp"): 3}, {("i1", "fp"): 2}]
    await writer.stop()


async def test_a_full_buffer_is_flushed_before_the_interval_is_over() -> None:
    store = Committer()

    async def reload() -> None:
        return None

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0, flush_max=2)
    writer.start()
    await writer.submit(repeats("i1", "a", 1))
    assert store.flushes == []  # one alert waiting: below flush_max, well inside the interval
    await writer.submit(repeats("i2", "b", 1))
    await asyncio.wait_for(store.flushed.wait(), 5)
    assert store.flushes == [{("i1", "a"): 1, ("i2", "b"): 1}]
    await writer.stop()


class RefusingCommitter(Committer):
    """A store that, as both real ones, refuses every commit after a failed one until ``clear_failure``."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False

    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None:
        if self.refusing:
            raise Unavailable("a commit queued before this one failed", retry_after=1)
        try:
            return await super().commit(batches, flush)
        except OSError:
            self.refusing = True
            raise

    def clear_failure(self) -> None:
        self.refusing = False


async def test_a_flush_that_fails_during_the_reload_is_tried_again_and_the_writer_recovers() -> None:
    """The reload after a failed commit first flushes the counters; when that flush fails too, the store refuses
    again, so the next attempt must clear the failure first (it did not: the writer stayed unavailable for good)."""
    store = RefusingCommitter()
    reloaded = asyncio.Event()

    async def reload() -> None:
        reloaded.set()

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    await writer.submit(repeats("i1", "fp", 3))  # counters wait in the buffer (the interval is long)
    store.fail_next = True  # the next batch's commit fails ...
    store.fail_next_flush = True  # ... and so does the reload's first flush
    with pytest.raises(Unavailable):
        await writer.submit(repeats("i2", "fp", 1))
    await asyncio.wait_for(reloaded.wait(), 5)
    await asyncio.wait_for(writer.ready(), 5)
    assert {("i1", "fp"): 3}.items() <= {k: v for f in store.flushes for k, v in f.items()}.items()
    await writer.submit(repeats("i3", "fp", 1))  # accepted again
    await writer.stop()


_Batches = Sequence[WriteSet] | Callable[[], list[WriteSet]]


class PipelinedCommitter(Committer):
    """A store that runs its commits one after the other in the order they start (as the SQLite store's thread
    does), takes a deferred commit's batches when it gets to it, and refuses every commit after a failed one
    until ``clear_failure`` (a deferred one before taking anything)."""

    pipelined = True

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[tuple[_Batches, Bucket | None, asyncio.Future[int | None]]] = asyncio.Queue()
        self.refusing = False
        self.cleared = 0
        self.started_with_flush: list[bool] = []
        self.runner = asyncio.get_running_loop().create_task(self._run())

    def start_commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> asyncio.Future[int | None]:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.started_with_flush.append(flush is not None)
        self.queue.put_nowait((batches, flush, future))
        return future

    def start_deferred_commit(self, take: Callable[[], list[WriteSet]]) -> asyncio.Future[int | None]:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.started_with_flush.append(False)
        self.queue.put_nowait((take, None, future))
        return future

    async def _run(self) -> None:
        while True:
            batches, flush, future = await self.queue.get()
            if self.refusing:
                future.set_exception(Unavailable("a commit queued before this one failed", retry_after=1))
                continue
            if callable(batches):
                batches = batches()
            try:
                future.set_result(await self.commit(batches, flush))
            except OSError as exc:
                self.refusing = True
                future.set_exception(exc)

    def clear_failure(self) -> None:
        self.refusing = False
        self.cleared += 1


async def test_a_pipelined_store_takes_every_batch_queued_behind_the_running_commit_when_it_gets_to_it() -> None:
    store = PipelinedCommitter()

    async def reload() -> None:
        pass

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    store.gate.clear()
    first = writer.submit(WriteSet())
    second = writer.submit(WriteSet())  # a deferred commit is queued at once, behind the first
    rest = [writer.submit(WriteSet()) for _ in range(3)]  # queued after it: the deferred commit takes them too
    assert len(store.started_with_flush) == 2
    store.gate.set()
    await asyncio.gather(first, second, *rest)
    assert [len(g) for g in store.groups] == [1, 4]
    await writer.stop()
    store.runner.cancel()


async def test_a_deferred_commit_leaves_a_resync_barrier_and_what_follows_it_to_the_writer() -> None:
    store = PipelinedCommitter()
    reloads: list[int] = []
    reloaded = asyncio.Event()

    async def reload() -> None:
        reloads.append(len(store.groups))
        reloaded.set()

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    store.gate.clear()
    first = writer.submit(WriteSet())
    before = [writer.submit(WriteSet()) for _ in range(2)]  # the deferred commit's
    writer.resync()
    with pytest.raises(Unavailable):
        await writer.ready()
    store.gate.set()
    await asyncio.gather(first, *before)
    await reloaded.wait()
    await asyncio.sleep(0)  # one turn of the loop: the writer marks itself healthy right after reload returns
    assert not writer.recovering
    assert [len(g) for g in store.groups] == [1, 2]
    assert reloads == [2]  # after every batch queued before the barrier, and only once
    await writer.submit(WriteSet())
    assert [len(g) for g in store.groups] == [1, 2, 1]
    await writer.stop()
    store.runner.cancel()


async def test_after_a_failed_commit_the_queued_one_is_refused_and_nothing_behind_it_commits() -> None:
    store = PipelinedCommitter()
    reloaded = asyncio.Event()

    async def reload() -> None:
        reloaded.set()

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    store.gate.clear()
    store.fail_next = True
    futures = [writer.submit(WriteSet()) for _ in range(4)]
    store.gate.set()
    for future in futures:
        with pytest.raises(Unavailable):
            await future
    await reloaded.wait()
    assert store.groups == []  # the second commit under way was refused, the rest failed with it
    assert store.cleared >= 1
    await writer.submit(WriteSet())  # once reloaded, commits go through again
    assert len(store.groups) == 1
    await writer.stop()
    store.runner.cancel()


async def test_only_a_commit_started_alone_folds_counters_in() -> None:
    store = PipelinedCommitter()

    async def reload() -> None:
        pass

    writer = GroupCommitWriter(store, reload, flush_interval=0.0)
    writer.start()
    store.gate.clear()
    writer.buffer.add(repeats("i1", "f1", 2).counters)
    first = writer.submit(repeats("i1", "f1", 1))
    second = writer.submit(repeats("i1", "f1", 1))
    store.gate.set()
    await asyncio.gather(first, second)
    await writer.stop()
    store.runner.cancel()
    assert store.started_with_flush[:2] == [True, False]
    assert sum(sum(f.values()) for f in store.flushes) == 4  # every counter folded in, none twice
