"""An app wired to each backend, driven in-process through Litestar's test client (real HTTP stack, real
store, no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from llm_incident_manager.app import create_app
from llm_incident_manager.auth.keys import Role, create_key
from llm_incident_manager.clock import SystemClock
from llm_incident_manager.config import Settings
from llm_incident_manager.services import Services
from llm_incident_manager.store.factory import make_store
from llm_incident_manager.store.protocol import Store


@dataclass
class Api:
    """The app under test, its client, and a store connection of the test's own event loop (the test client
    runs the app on another loop, so the app's own pool cannot be used from the test)."""

    app: Litestar
    client: AsyncTestClient[Litestar]
    store: Store
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def key(self, role: str) -> str:
        if role not in self.keys:
            key, _ = await create_key(self.store, Role(role), f"test-{role}", SystemClock().now())
            self.keys[role] = key
        return self.keys[role]

    async def post(self, path: str, body: Any = None, *, role: str = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {await self.key(role)}", **kwargs.pop("headers", {})}
        if body is not None and "content" not in kwargs:
            kwargs["json"] = body
        return await self.client.post(path, headers=headers, **kwargs)

    async def get(self, path: str, *, role: str = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {await self.key(role)}"}
        return await self.client.get(path, headers=headers, **kwargs)

    async def alerts(self, body: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Posts generic alerts, asserts 202, returns the results."""
        response = await self.post("/api/v1/alerts", body, role="ingest", **kwargs)
        assert response.status_code == 202, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    async def incident(self, incident_id: str) -> dict[str, Any]:
        response = await self.get(f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, **overrides)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@asynccontextmanager
async def running(settings: Settings, keys: dict[str, str] | None = None) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        store = make_store(settings)
        await store.open()
        try:
            yield Api(app, client, store, keys if keys is not None else {})
        finally:
            await store.close()


@pytest.fixture
def pg_url(pg_database_factory: Callable[[], str]) -> str:
    """A fresh PostgreSQL database of its own."""
    return pg_database_factory()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """An open, migrated store of the test's engine, without a service around it."""
    opened = make_store(make_settings(database_url))
    await opened.open()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def api(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Api]:
    async with running(make_settings(database_url, **settings_overrides)) as api:
        yield api
