"""``kill -9`` of the service between the provider's receipt of a page and the page's done mark: after the
restart the page is sent again at most once, and not at all to a provider that honours our idempotency key
(Slack: the message's metadata is found in the channel's history). A real ``lim serve`` process; the providers are
the local fakes on a loop of their own."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ServerProcess
from tests.e2e.helpers import Api, wait_until
from tests.fakes.providers import FakeSlack, FakeWebhookReceiver, Recorded
from tests.fakes.threaded import LoopThread

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
FAST = {"retry": {"attempts": 3, "backoff": [0.1], "jitter": 0}, "lease": "2s", "timeout": "1s",
        "poll_interval": "0.2s", "throttle": {}}  # fmt: skip


def _server(request: pytest.FixtureRequest, server_factory: Any, tmp_path: Path, doc: dict[str, Any]) -> ServerProcess:
    path = tmp_path / "lim.yaml"
    path.write_text(yaml.safe_dump(doc))
    url = request.getfixturevalue("pg_database_factory")() if request.param == "postgres" else None
    server: ServerProcess = server_factory(database_url=url, LIM_CONFIG=str(path))
    return server


def _kill_on_first(server: ServerProcess, wanted: str) -> Any:
    """An ``on_request`` hook: the first request whose path ends with ``wanted`` kills the service (its whole
    process group) before the provider answers, i.e. after the provider did the work and before we mark it done."""
    state = {"killed": False}

    def hook(request: Recorded) -> None:
        if not state["killed"] and request.path.endswith(wanted) and server.proc is not None:
            state["killed"] = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGKILL)

    return hook


def _pages(api: Api, incident_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get("/api/v1/notifications", params={"incident_id": incident_id}).json()[
        "items"
    ]
    return items


@pytest.mark.parametrize("backend", BACKENDS, indirect=False)
def test_a_webhook_page_is_sent_again_with_the_same_id_at_most_once(
    backend: str, request: pytest.FixtureRequest, server_factory: Any, tmp_path: Path
) -> None:
    request.param = backend  # type: ignore[attr-defined]
    with LoopThread() as fakes:
        hook = fakes.run(FakeWebhookReceiver().start())
        doc = {
            "route": {"receiver": "team"},
            "receivers": [{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}],
            "notifications": {"delivery": FAST},
        }
        server = _server(request, server_factory, tmp_path, doc)
        hook.on_request = _kill_on_first(server, "/hook")
        server.start()
        with Api(server) as api:
            [result] = api.ingest("/api/v1/alerts", [{"title": "GPU node down", "severity": "critical"}])
        wait_until(lambda: server.proc is not None and server.proc.poll() is not None, what="the kill")
        server.kill()
        server.start()
        with Api(server) as api:
            done = wait_until(
                lambda: [p for p in _pages(api, result["incident_id"]) if p["state"] == "done"], what="the page done"
            )
        ids = Counter(r.headers.get("webhook-id") for r in hook.requests)
        assert len(ids) == 1, ids  # one logical page
        assert sum(ids.values()) <= 2  # sent again at most once; the receiver drops the repeat by its id
        assert done[0]["attempts"] >= 1
        fakes.run(hook.stop())


@pytest.mark.parametrize("backend", BACKENDS, indirect=False)
def test_a_slack_page_is_not_posted_twice(
    backend: str, request: pytest.FixtureRequest, server_factory: Any, tmp_path: Path
) -> None:
    request.param = backend  # type: ignore[attr-defined]
    with LoopThread() as fakes:
        slack = fakes.run(FakeSlack().start())
        doc = {
            "route": {"receiver": "team"},
            "receivers": [{"name": "team", "slack_configs": [{
                "api_url": f"{slack.api_url}chat.postMessage", "channel": "#ops",
                "http_config": {"authorization": {"credentials": slack.token}}}]}],
            "notifications": {"delivery": FAST},
        }  # fmt: skip
        server = _server(request, server_factory, tmp_path, doc)
        slack.on_request = _kill_on_first(server, "chat.postMessage")
        server.start()
        with Api(server) as api:
            [result] = api.ingest("/api/v1/alerts", [{"title": "Eval score drop", "severity": "high"}])
        wait_until(lambda: server.proc is not None and server.proc.poll() is not None, what="the kill")
        server.kill()
        server.start()
        with Api(server) as api:
            wait_until(
                lambda: [p for p in _pages(api, result["incident_id"]) if p["state"] == "done"], what="the page done"
            )
        assert len(slack.messages("#ops")) == 1  # the second attempt found the first message and kept it
        assert len(slack.calls("conversations.history")) >= 1
        fakes.run(slack.stop())
