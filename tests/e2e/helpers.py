"""Helpers shared by the end-to-end tests: polling with a deadline and a small client of the service's API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.e2e.conftest import ServerProcess

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, what: str = "the condition") -> T:
    """Polls ``predicate`` until it returns something truthy, which it returns; fails after ``timeout``
    seconds with the last value seen. The short pause between polls is the polling interval, not a stand-in
    for synchronisation: the condition itself is what the test waits for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last value: {value!r}")
        time.sleep(0.05)


class Api:
    """The service's HTTP API, as one key sees it."""

    def __init__(self, server: ServerProcess, role: str = "admin", timeout: float = 30.0) -> None:
        self.server = server
        self.key = server.key(role)
        self.client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=timeout
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingest(self, path: str, body: Any) -> list[dict[str, Any]]:
        """Posts to an ingest endpoint, asserts 202 and returns the per-alert results."""
        response = self.client.post(path, json=body)
        assert response.status_code == 202, f"{path} answered {response.status_code}: {response.text}"
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def incidents(self, **params: Any) -> list[dict[str, Any]]:
        """Every incident matching ``params``, following the cursor."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"limit": 500, **params}
            if cursor is not None:
                query["cursor"] = cursor
            response = self.client.get("/api/v1/incidents", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            out.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    def incident(self, incident_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, f"incident {incident_id}: {response.status_code} {response.text}"
        incident: dict[str, Any] = response.json()
        return incident

    def incident_alerts(self, incident_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}/alerts", params={"limit": 500})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}/timeline", params={"limit": 500})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items
