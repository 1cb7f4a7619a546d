"""Distributed mode's queue: the real NATS JetStream server (127.0.0.1:4222, and one of the test's own where it
must be stopped), PostgreSQL as the system of record, pages sent to a local webhook receiver.

Each test uses its own stream and consumer names, so runs never share a queue."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from benchmarks.notify_latency import run

from llm_incident_manager.configfile import FileConfig
from llm_incident_manager.domain.notifications import PageRecord, PageState
from llm_incident_manager.services import Services
from tests.fakes.providers import FakeWebhookReceiver, Recorded
from tests.integration.notify_helpers import alert, config, eventually, ingest, pages, service, unique

NATS_URL = "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
#: short leases so a page abandoned mid-send is taken up again within the test
QUEUE = {"lease": "2s", "timeout": "1s", "poll_interval": "0.1s", "redrive_after": "4s"}


@pytest.fixture
async def names() -> AsyncIterator[dict[str, str]]:
    tag = unique("t")
    chosen = {"stream": f"LIM_TEST_{tag}", "subject": f"limtest.{tag}", "consumer": f"lim-{tag}"}
    yield chosen
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=2)
    except Exception:
        return
    try:
        await nc.jetstream().delete_stream(chosen["stream"])
    except Exception:  # noqa: S110 - the test may not have created it
        pass
    finally:
        await nc.close()


def _config(hook: FakeWebhookReceiver, names: dict[str, str], **delivery: Any) -> FileConfig:
    return config(
        [{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}],
        delivery={**QUEUE, **delivery},
        jetstream=names,
    )


async def _all_done(services: Services, n: int) -> list[PageRecord] | None:
    found = await pages(services)
    done = [p for p in found if p.state is PageState.DONE]
    return done if len(done) >= n and len(found) == n else None


def _delivered(requests: list[Recorded]) -> Counter[str]:
    return Counter(r.headers.get("webhook-id", "") for r in requests if r.response_status == 200)


@pytest.mark.postgres
async def test_two_instances_share_one_queue_and_page_once(pg_url: str, names: dict[str, str]) -> None:
    async with FakeWebhookReceiver() as hook:
        cfg = _config(hook, names)
        async with service(pg_url, cfg, nats_url=NATS_URL) as a, service(pg_url, cfg, nats_url=NATS_URL) as b:
            for i in range(20):
                await ingest(a if i % 2 else b, alert(unique("Shared"), service=unique("svc")))
            await hook.wait_for(lambda r: len(_delivered(r)) == 20)
            await eventually(lambda: _all_done(a, 20), what="every page done")
            delivered = _delivered(hook.requests)
            assert set(delivered.values()) == {1}, delivered
            queues = [s.notifications.queue for s in (a, b) if s.notifications is not None]
            assert len(queues) == 2
            assert sum(q.published for q in queues if q is not None) >= 20
            assert sum(q.consumed for q in queues if q is not None) >= 20


@pytest.mark.postgres
async def test_a_consumer_restarted_mid_stream_loses_nothing(pg_url: str, names: dict[str, str]) -> None:
    async with (
        FakeWebhookReceiver() as hook,
        service(pg_url, _config(hook, names, batch=5), nats_url=NATS_URL) as services,
    ):
        assert services.notifications is not None
        queue = services.notifications.queue
        assert queue is not None
        stopped = asyncio.Event()

        async def stop_once(_: Recorded) -> None:
            if len(hook.requests) == 7 and not stopped.is_set():
                stopped.set()
                asyncio.get_running_loop().create_task(queue.stop_consumer())

        hook.on_request = stop_once
        await ingest(services, *(alert(unique("Mid"), service=unique("svc")) for _ in range(30)))
        await stopped.wait()
        received = len(hook.requests)
        queue.start_consumer()
        await hook.wait_for(lambda r: len(_delivered(r)) == 30, timeout=20)
        await eventually(lambda: _all_done(services, 30), timeout=20, what="every page done")
        delivered = _delivered(hook.requests)
        # a page in flight when the consumer stopped may be sent again (same webhook-id), never more
        assert max(delivered.values()) <= 2
        assert sum(delivered.values()) - 30 <= 5  # at most the batch that was in flight
        assert received >= 7


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """A nats-server of the test's own (JetStream, files under tmp_path), to stop and start again."""
    # a test of the real queue: a machine without nats-server is a failure to fix, not a test to skip
    assert Path(NATS_SERVER).exists(), f"nats-server not found at {NATS_SERVER} (Debian's nats-server package)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    start.port = port  # type: ignore[attr-defined]
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


async def _answering(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.mark.postgres
async def test_nats_down_for_a_while_pages_wait_and_go_once(pg_url: str, names: dict[str, str], own_nats: Any) -> None:
    port = own_nats.port
    server = own_nats()
    await eventually(lambda: _answering(port), what="nats-server up")
    async with (
        FakeWebhookReceiver() as hook,
        service(pg_url, _config(hook, names), nats_url=f"nats://127.0.0.1:{port}") as services,
    ):
        await ingest(services, alert(unique("Before"), service=unique("svc")))
        await hook.wait_for(lambda r: len(_delivered(r)) == 1)
        server.terminate()
        server.wait(10)
        results = await ingest(services, *(alert(unique("During"), service=unique("svc")) for _ in range(5)))
        assert all(r.incident_id for r in results)  # ingest does not depend on NATS
        waiting = [p for r in results for p in await pages(services, r.incident_id)]
        assert len(waiting) == 5
        assert all(p.state is PageState.PENDING for p in waiting)
        own_nats()
        await hook.wait_for(lambda r: len(_delivered(r)) == 6, timeout=20)
        await eventually(lambda: _all_done(services, 6), timeout=20, what="every page done")
        assert set(_delivered(hook.requests).values()) == {1}


@pytest.mark.postgres
async def test_a_steady_stream_through_a_real_service_is_paged_in_full(pg_url: str) -> None:
    """100 new incidents a second for 3 seconds through ``lim serve`` in distributed mode: every one paged."""
    result = await run(rate=100, seconds=3, database_url=pg_url, nats_url=NATS_URL)
    assert (result["sent"], result["accepted"], result["paged"]) == (300, 300, 300)


@pytest.mark.postgres
async def test_throttled_pages_are_published_again_at_once(pg_url: str, names: dict[str, str]) -> None:
    """A page the throttle held back is a new message when it falls due (not a repeat JetStream would drop until
    the re-drive): the three pages arrive within a couple of seconds, the re-drive being a minute away."""
    async with (
        FakeWebhookReceiver() as hook,
        service(
            pg_url,
            _config(hook, names, redrive_after="60s", throttle={"webhook": {"messages": 1, "per": "0.5s"}}),
            nats_url=NATS_URL,
        ) as services,
    ):
        for _ in range(3):
            await ingest(services, alert(unique("Held"), service=unique("svc")))
        await hook.wait_for(lambda r: sum(len(x.json["events"]) for x in r if x.json) == 3, timeout=10)
        await eventually(lambda: _settled_count(services, 3), what="every page settled")


async def _settled_count(services: Services, n: int) -> list[PageRecord] | None:
    found = await pages(services)
    done = [p for p in found if p.state in (PageState.DONE, PageState.COALESCED)]
    return done if len(done) == n else None
