"""notify/outcomes.py: the outcomes of concurrent sends share a transaction, none waits for one not yet written,
and one bad outcome fails only its own caller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from llm_incident_manager.domain.notifications import PageOutcome, PageState
from llm_incident_manager.notify.outcomes import OutcomeWriter
from llm_incident_manager.store.protocol import Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class GatedStore:
    """``finish_pages`` as a recording store: each call waits for the test to open its gate, and an outcome whose
    id starts with ``bad`` makes the call fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], datetime, list[Any]]] = []
        self.gates: list[asyncio.Event] = []
        self.entered = asyncio.Event()

    async def finish_pages(self, outcomes: Any, now: datetime, *, timeline: Any = (), **_: Any) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        self.entered.set()
        await gate.wait()
        if any(o.id.startswith("bad") for o in outcomes):
            raise RuntimeError("constraint failed")
        self.calls.append(([o.id for o in outcomes], now, list(timeline)))

    async def next_call(self) -> asyncio.Event:
        """The gate of the call the writer is in now (waits until it enters one)."""
        await self.entered.wait()
        self.entered.clear()
        return self.gates[-1]


def _outcome(page_id: str) -> PageOutcome:
    return PageOutcome(id=page_id, state=PageState.DONE, attempts=1, next_at=NOW, done_at=NOW)


async def test_outcomes_written_while_one_runs_go_together_in_the_next() -> None:
    store = GatedStore()
    writer = OutcomeWriter(cast(Store, store))
    first = asyncio.create_task(writer.finish([_outcome("p0")], NOW, timeline=[("i0", NOW, "sent", "x", {})]))
    gate = await store.next_call()  # p0 is being written alone, at once
    rest = [asyncio.create_task(writer.finish([_outcome(f"p{k}")], NOW + timedelta(seconds=k))) for k in range(1, 6)]
    await asyncio.sleep(0)  # one turn of the loop: each task runs up to its wait (no timing involved)
    assert len(writer._pending) == 5  # all five queued behind the running write
    gate.set()
    await first
    assert not any(t.done() for t in rest)  # not written yet: they wait for their own transaction
    (await store.next_call()).set()
    await asyncio.gather(*rest)
    assert [ids for ids, _, _ in store.calls] == [["p0"], ["p1", "p2", "p3", "p4", "p5"]]
    assert store.calls[1][1] == NOW + timedelta(seconds=5)  # the latest of the writes' times
    assert store.calls[0][2] == [("i0", NOW, "sent", "x", {})]
    assert writer.transactions == 2


async def test_a_bad_outcome_fails_only_its_own_caller() -> None:
    store = GatedStore()
    writer = OutcomeWriter(cast(Store, store))
    first = asyncio.create_task(writer.finish([_outcome("p0")], NOW))
    gate = await store.next_call()
    good = asyncio.create_task(writer.finish([_outcome("p1")], NOW))
    bad = asyncio.create_task(writer.finish([_outcome("bad2")], NOW))
    later = asyncio.create_task(writer.finish([_outcome("p3")], NOW))
    await asyncio.sleep(0)  # one turn of the loop: each task runs up to its wait
    assert len(writer._pending) == 3
    gate.set()
    await first
    for _ in range(4):  # the combined write fails, then each of its three is written on its own
        (await store.next_call()).set()
    await asyncio.wait([good, bad, later])
    with pytest.raises(RuntimeError, match="constraint failed"):
        bad.result()
    assert good.result() is None
    assert later.result() is None
    assert [ids for ids, _, _ in store.calls] == [["p0"], ["p1"], ["p3"]]
