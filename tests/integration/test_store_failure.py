"""A store that cannot commit: 503 + Retry-After, nothing half-written, and the next request decides from
what was really committed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from tests.integration.conftest import Api


async def wait_ready(api: Api, limit: float = 10.0) -> None:
    """Polls /health/ready until the service has reloaded its state after the failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while (await api.client.get("/health/ready")).status_code != 200:
        assert loop.time() < deadline, "the service did not recover"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def write_lock(database_url: str) -> AsyncIterator[None]:
    """Holds the database's write lock from another connection (another process would do the same)."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        pg = await asyncpg.connect(database_url)
        tx = pg.transaction()
        await tx.start()
        await pg.execute("LOCK TABLE incidents, alert_batches IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await tx.rollback()
            await pg.close()


@pytest.mark.parametrize("settings_overrides", [{"db_timeout_seconds": 1.0}])
async def test_commit_failure_is_503_with_retry_after_and_loses_nothing_it_acknowledged(
    api: Api, database_url: str
) -> None:
    [before] = await api.alerts({"title": "before", "dedup_key": "b"})
    ingest_key = await api.key("ingest")
    async with write_lock(database_url):
        response = await api.post(
            "/api/v1/alerts", [{"title": "during"}, {"title": "before", "dedup_key": "b"}], role="ingest"
        )
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-type"].startswith("application/problem+json")
        pd = await api.client.post(
            "/v2/enqueue",
            json={
                "routing_key": ingest_key,
                "event_action": "trigger",
                "dedup_key": "x",
                "payload": {"summary": "s", "source": "s", "severity": "info"},
            },
        )
        assert pd.status_code == 503
        assert "retry-after" in pd.headers
    await wait_ready(api)
    # nothing of the failed batch was written, and the state forgot what it had decided for it
    assert await api.store.count_logged_alerts() == 1
    [during] = await api.alerts({"title": "during"})
    assert during["action"] == "created"
    [again] = await api.alerts({"title": "before", "dedup_key": "b"})
    assert again == {**before, "action": "deduplicated"}
    assert (await api.incident(before["incident_id"]))["alert_count"] == 2
    listed = (await api.get("/api/v1/incidents")).json()["items"]
    assert len(listed) == 2


@pytest.mark.parametrize("settings_overrides", [{"db_timeout_seconds": 1.0}])
async def test_responder_action_failure_is_503_and_not_applied(api: Api, database_url: str) -> None:
    [created] = await api.alerts({"title": "x"})
    await api.key("responder")
    async with write_lock(database_url):
        response = await api.post(f"/api/v1/incidents/{created['incident_id']}/acknowledge", role="responder")
        assert response.status_code == 503
    await wait_ready(api)
    assert (await api.incident(created["incident_id"]))["status"] == "triggered"
    ack = await api.post(f"/api/v1/incidents/{created['incident_id']}/acknowledge", role="responder")
    assert ack.json()["status"] == "acknowledged"
