"""The notification outbox in the store, on SQLite and PostgreSQL: pages written with the change that causes
them, claims that never overlap, leases that run out, outcomes that never undo a done page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.domain.notifications import PageOutcome, PageState
from llm_incident_manager.ids import uuid7
from llm_incident_manager.pipeline.writeset import NewIncident, NewPage, WriteSet
from llm_incident_manager.store.protocol import Store

NOW = datetime.now(UTC).replace(microsecond=0)


def _incident(incident_id: str) -> NewIncident:
    return NewIncident(
        id=incident_id, status=IncidentStatus.TRIGGERED, severity=Severity.HIGH, title="GPU down", description=None,
        source="test", fingerprint="f" * 16, service="chat", model=None, model_version=None, provider=None,
        region=None, env=None, node=None, labels={}, created_at=NOW, last_seen_at=NOW,
    )  # fmt: skip


def _page(incident_id: str, key: str, *, next_at: datetime = NOW) -> NewPage:
    return NewPage(
        id=uuid7(), idempotency_key=key, incident_id=incident_id, event="triggered", receiver="team",
        target="webhook_configs[0]", channel="webhook", recipient="https://example.com/hook", severity="high",
        data={"title": "GPU down"}, next_at=next_at, digest=False, created_at=NOW,
    )  # fmt: skip


async def _with_pages(store: Store, n: int, *, next_at: datetime = NOW) -> str:
    incident_id = uuid7()
    ws = WriteSet(new_incidents=[_incident(incident_id)])
    ws.pages = [_page(incident_id, f"{incident_id}/triggered/team/t{i}", next_at=next_at) for i in range(n)]
    await store.commit([ws])
    return incident_id


async def test_pages_commit_with_the_change_and_a_known_key_is_dropped(store: Store) -> None:
    incident_id = await _with_pages(store, 3)
    again = WriteSet(pages=[_page(incident_id, f"{incident_id}/triggered/team/t0")])
    await store.commit([again])
    found = await store.list_pages(None, incident_id, None, 50)
    assert len(found.items) == 3
    assert {p.state for p in found.items} == {PageState.PENDING}
    assert found.items[0].data == {"title": "GPU down"}


async def test_a_failed_commit_writes_no_page(store: Store) -> None:
    incident_id = await _with_pages(store, 1)
    broken = WriteSet(new_incidents=[_incident(incident_id)])  # the same id twice: the commit fails
    broken.pages = [_page(incident_id, "never")]
    with pytest.raises(Exception):  # noqa: B017, PT011 - either engine's integrity error
        await store.commit([broken])
    assert all(p.idempotency_key != "never" for p in (await store.list_pages(None, None, None, 50)).items)


async def test_claims_take_only_due_pages_and_never_overlap(store: Store) -> None:
    await _with_pages(store, 40)
    await _with_pages(store, 5, next_at=NOW + timedelta(hours=1))
    lease = NOW + timedelta(seconds=60)
    claims = await asyncio.gather(*(store.claim_pages(f"w{i}", NOW, lease, 7) for i in range(8)))
    ids = [p.id for claim in claims for p in claim]
    assert len(ids) == 40
    assert len(set(ids)) == 40, "two workers claimed the same page"
    assert await store.claim_pages("late", NOW, lease, 100) == []
    for claim, worker in zip(claims, (f"w{i}" for i in range(8)), strict=True):
        assert all(p.state is PageState.SENDING and p.claimed_by == worker for p in claim)


async def test_a_lease_that_ran_out_is_claimed_again(store: Store) -> None:
    await _with_pages(store, 1)
    [first] = await store.claim_pages("dead", NOW, NOW + timedelta(seconds=5), 10)
    assert await store.claim_pages("other", NOW + timedelta(seconds=4), NOW + timedelta(seconds=64), 10) == []
    [again] = await store.claim_pages("other", NOW + timedelta(seconds=6), NOW + timedelta(seconds=66), 10)
    assert again.id == first.id
    assert again.claimed_by == "other"


async def test_claim_by_ids_takes_only_those(store: Store) -> None:
    await _with_pages(store, 4)
    pages = (await store.list_pages(None, None, None, 10)).items
    wanted = [pages[0].id, pages[2].id]
    claimed = await store.claim_pages("w", NOW, NOW + timedelta(seconds=60), 10, wanted)
    assert sorted(p.id for p in claimed) == sorted(wanted)
    assert await store.claim_pages("w", NOW, NOW + timedelta(seconds=60), 10, []) == []


async def test_a_done_page_is_never_undone_and_retries_wait(store: Store) -> None:
    incident_id = await _with_pages(store, 2)
    a, b = await store.claim_pages("w", NOW, NOW + timedelta(seconds=60), 10)
    later = NOW + timedelta(seconds=30)
    await store.finish_pages(
        [
            PageOutcome(id=a.id, state=PageState.DONE, attempts=1, next_at=a.next_at, done_at=NOW, provider_ref="x"),
            PageOutcome(id=b.id, state=PageState.PENDING, attempts=1, next_at=later, last_error="500", last_status=500),
        ],
        NOW,
        timeline=[(incident_id, NOW, "notification_attempt", "notifier", {"page": a.id, "result": "sent"})],
        threads=[(incident_id, "team", "webhook_configs[0]", "1700000000.000100")],
    )
    # a late worker whose lease ran out reports a failure for the done page: it stays done
    await store.finish_pages([PageOutcome(id=a.id, state=PageState.PENDING, attempts=2, next_at=later)], NOW)
    done = await store.get_page(a.id)
    assert done is not None
    assert done.state is PageState.DONE
    assert done.provider_ref == "x"
    retry = await store.get_page(b.id)
    assert retry is not None
    assert (retry.state, retry.attempts, retry.last_status) == (PageState.PENDING, 1, 500)
    assert await store.claim_pages("w", NOW + timedelta(seconds=29), NOW + timedelta(seconds=90), 10) == []
    assert [p.id for p in await store.claim_pages("w", later, later + timedelta(seconds=60), 10)] == [b.id]
    refs = await store.thread_refs([(incident_id, "team", "webhook_configs[0]"), (incident_id, "team", "nope")])
    assert refs == {(incident_id, "team", "webhook_configs[0]"): "1700000000.000100"}
    failed = await store.list_pages(PageState.DONE, None, None, 10)
    assert [p.id for p in failed.items] == [a.id]
    assert (await store.page_counts()) == {"done": 1, "sending": 1}


async def test_publishable_pages_and_redrive(store: Store) -> None:
    await _with_pages(store, 3)
    pages = await store.publishable_pages(NOW, NOW - timedelta(minutes=5), 10)
    assert len(pages) == 3
    await store.mark_published([(pages[0].id, pages[0].attempts, pages[0].next_at)], NOW)
    await store.mark_published([(pages[1].id, pages[1].attempts + 1, pages[1].next_at)], NOW)  # claimed since
    await store.mark_published([(pages[2].id, 0, NOW + timedelta(seconds=1))], NOW)  # rescheduled since
    assert len(await store.publishable_pages(NOW, NOW - timedelta(minutes=5), 10)) == 2
    # published long enough ago and still not done: published again
    later = NOW + timedelta(minutes=6)
    assert len(await store.publishable_pages(later, later - timedelta(minutes=5), 10)) == 3


async def test_disabled_endpoints_are_remembered(store: Store) -> None:
    incident_id = await _with_pages(store, 1)
    [page] = await store.claim_pages("w", NOW, NOW + timedelta(seconds=60), 10)
    await store.finish_pages(
        [PageOutcome(id=page.id, state=PageState.DROPPED, attempts=1, next_at=NOW, last_status=410)],
        NOW,
        disabled=[("team", "webhook_configs[0]", "https://example.com", NOW, "410 Gone")] * 2,
    )
    assert await store.load_disabled() == [("team", "webhook_configs[0]", "https://example.com")]
    assert incident_id
