"""Escalation timers survive ``kill -9``: a real ``lim serve`` is killed between two levels and started again;
the next level fires within 2 s of its time, once; an acknowledged incident's timer never fires after the
restart. SMS go to the local Twilio fake, on a loop of its own."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ServerProcess
from tests.e2e.helpers import Api, wait_until
from tests.fakes.providers import FakeTwilio
from tests.fakes.threaded import LoopThread

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ANA, BEN = "+15550001111", "+15550002222"
STEP = 4.0  # seconds between the two levels


def _start(
    request: pytest.FixtureRequest, backend: str, server_factory: Any, tmp_path: Path, twilio: FakeTwilio
) -> ServerProcess:
    doc = {
        "route": {"receiver": "oncall"},
        "users": [{"name": "ana", "phone": ANA}, {"name": "ben", "phone": BEN}],
        "escalation_policies": [{"name": "gpu", "repeat": 1, "levels": [
            {"targets": [{"user": "ana"}], "via": ["sms"], "escalate_after": f"{STEP}s"},
            {"targets": [{"user": "ben"}], "via": ["sms"], "escalate_after": "10m"},
        ]}],
        "receivers": [{"name": "oncall", "escalation_policy": "gpu"}],
        "notifications": {
            "delivery": {"lease": "2s", "timeout": "1s", "poll_interval": "0.2s", "throttle": {}},
            "twilio": {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token, "from": "+15559990000",
                       "api_url": twilio.url},
        },
    }  # fmt: skip
    path = tmp_path / "lim.yaml"
    path.write_text(yaml.safe_dump(doc))
    url = request.getfixturevalue("pg_database_factory")() if backend == "postgres" else None
    server: ServerProcess = server_factory(database_url=url, LIM_CONFIG=str(path))
    server.start()
    return server


def _to(twilio: FakeTwilio) -> list[str]:
    return [m["To"] for m in twilio.messages()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_between_levels_the_next_fires_on_time_once(
    backend: str, request: pytest.FixtureRequest, server_factory: Any, tmp_path: Path
) -> None:
    with LoopThread() as fakes:
        twilio = fakes.run(FakeTwilio().start())
        try:
            _kill_between_levels(request, backend, server_factory, tmp_path, twilio)
        finally:
            fakes.run(twilio.stop())


def _kill_between_levels(
    request: pytest.FixtureRequest, backend: str, server_factory: Any, tmp_path: Path, twilio: FakeTwilio
) -> None:
    server = _start(request, backend, server_factory, tmp_path, twilio)
    with Api(server) as api:
        [result] = api.ingest("/api/v1/alerts", [{"title": "GPU node down", "severity": "critical"}])
    wait_until(lambda: _to(twilio) == [ANA], what="level 1")
    first = twilio.requests[-1].at
    # the level-1 page marked done: what follows tests the timer, not the SMS's own at-least-once
    wait_until(lambda: [p for p in _pages(server, result["incident_id"]) if p["state"] == "done"], what="done")
    server.kill()  # SIGKILL, between the levels
    server.start()
    wait_until(lambda: _to(twilio) == [ANA, BEN], timeout=STEP + 10, what="level 2 after the restart")
    second = next(r.at for r in twilio.requests if r.form.get("To") == BEN)
    assert second - first <= STEP + 2.0 + 0.5  # within 2 s of its time (and the provider's round trip)
    with Api(server) as api:
        timeline = api.timeline(result["incident_id"])
    assert [e["kind"] for e in timeline].count("escalated") == 1
    pages = [p for p in _pages(server, result["incident_id"]) if p["receiver"] == "user:ben"]
    assert len(pages) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_acknowledged_incident_is_not_escalated_after_a_restart(
    backend: str, request: pytest.FixtureRequest, server_factory: Any, tmp_path: Path
) -> None:
    with LoopThread() as fakes:
        twilio = fakes.run(FakeTwilio().start())
        try:
            _ack_then_restart(request, backend, server_factory, tmp_path, twilio)
        finally:
            fakes.run(twilio.stop())


def _ack_then_restart(
    request: pytest.FixtureRequest, backend: str, server_factory: Any, tmp_path: Path, twilio: FakeTwilio
) -> None:
    server = _start(request, backend, server_factory, tmp_path, twilio)
    with Api(server) as api:
        [result] = api.ingest("/api/v1/alerts", [{"title": "Eval score drop", "severity": "high"}])
        wait_until(lambda: _to(twilio) == [ANA], what="level 1")
        wait_until(lambda: [p for p in _pages(server, result["incident_id"]) if p["state"] == "done"], what="done")
        acked = api.client.post(f"/api/v1/incidents/{result['incident_id']}/acknowledge")
        assert acked.status_code == 200
        started = datetime.fromisoformat(api.incident(result["incident_id"])["created_at"])
    server.kill()
    server.start()
    # past the moment level 2 would have fired, with the worker running: nothing for ben
    deadline = started.timestamp() + STEP + 2.5
    with Api(server) as api:
        wait_until(lambda: time.time() > deadline and api.incident(result["incident_id"]), what="the due time")
    assert _to(twilio) == [ANA]


def _pages(server: ServerProcess, incident_id: str) -> list[dict[str, Any]]:
    with Api(server) as api:
        items: list[dict[str, Any]] = api.client.get(
            "/api/v1/notifications", params={"incident_id": incident_id}
        ).json()["items"]
    return items
