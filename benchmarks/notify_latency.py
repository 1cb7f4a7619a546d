"""Ingest → provider receipt latency of the first page of new incidents, at a fixed rate (open loop).

A real ``lim serve`` process (embedded SQLite by default; ``--database-url``/``--nats-url`` for distributed mode)
with one receiver, a webhook, pointed at a local receiver (``tests.fakes.providers.FakeWebhookReceiver``) in this
process. Alerts are sent one per request at ``--rate`` new incidents per second, each at its scheduled time (open
loop: a stall delays the latency figure, it is not hidden by a slower send rate). The latency of an incident is
the receiver's arrival time of its page minus the alert's scheduled send time.

    .venv/bin/python -m benchmarks.notify_latency --rate 100 --seconds 30

Prints p50/p90/p99/max of the page latency and of the ingest answer, and how many pages arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.fakes.providers import FakeWebhookReceiver, Recorded

LIM = str(Path(sys.executable).with_name("lim"))


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(rate: float, seconds: float, database_url: str | None, nats_url: str | None) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    arrivals: dict[int, float] = {}
    expected = {"n": -1}
    all_paged = asyncio.Event()
    hook = FakeWebhookReceiver()

    def record(request: Recorded) -> None:
        body = request.json or {}
        for event in body.get("events", []):
            title = event.get("incident", {}).get("title", "")
            if title.startswith(f"bench {tag} ") and event.get("type") == "incident.triggered":
                arrivals.setdefault(int(title.rsplit(" ", 1)[1]), request.at)
        if len(arrivals) == expected["n"]:
            all_paged.set()

    hook.on_request = record
    await hook.start()
    with tempfile.TemporaryDirectory() as tmp:
        doc = {
            "route": {"receiver": "bench"},
            "receivers": [{"name": "bench", "webhook_configs": [{"url": hook.endpoint()}]}],
            "notifications": {"jetstream": {"stream": f"LIM_BENCH_{tag}", "subject": f"limbench.{tag}",
                                            "consumer": f"bench-{tag}"}},
        }  # fmt: skip
        (Path(tmp) / "lim.yaml").write_text(yaml.safe_dump(doc))
        port = _port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIM_")}
        env.update(LIM_PORT=str(port), LIM_CONFIG=f"{tmp}/lim.yaml", LIM_LOG_LEVEL="warning",
                   LIM_DATABASE_URL=database_url or f"sqlite:///{tmp}/lim.db")  # fmt: skip
        if nats_url:
            env["LIM_NATS_URL"] = nats_url
        key = (await asyncio.to_thread(
            subprocess.run, [LIM, "keys", "create", "--role", "ingest", "--name", "bench"], env=env, check=True,
            capture_output=True, text=True,
        )).stdout.strip()  # fmt: skip
        server = await asyncio.to_thread(subprocess.Popen, [LIM, "serve"], env=env, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                         limits=httpx.Limits(max_connections=64), timeout=30) as client:  # fmt: skip
                for _ in range(300):
                    try:
                        if (await client.get("/health/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)  # waiting for another process to listen
                total = int(rate * seconds)
                scheduled: dict[int, float] = {}
                answered: list[float] = []

                async def send(i: int) -> None:
                    body = [{"title": f"bench {tag} {i}", "severity": "critical",
                             "labels": {"alertname": f"Bench{i}", "service": f"svc-{tag}-{i}"}}]  # fmt: skip
                    response = await client.post("/api/v1/alerts", content=json.dumps(body),
                                                 headers={"Content-Type": "application/json"})  # fmt: skip
                    if response.status_code == 202:
                        answered.append(time.monotonic() - scheduled[i])

                start = time.monotonic() + 0.2
                tasks = []
                for i in range(total):
                    at = start + i / rate
                    delay = at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)  # the open-loop schedule itself
                    scheduled[i] = at
                    tasks.append(asyncio.create_task(send(i)))
                await asyncio.gather(*tasks)
                expected["n"] = len(answered)
                if len(arrivals) >= len(answered):
                    all_paged.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_paged.wait(), 30)
        finally:
            server.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait, 30)
            await hook.stop()
            if nats_url:
                await _delete_stream(nats_url, f"LIM_BENCH_{tag}")
    latencies = [arrivals[i] - scheduled[i] for i in arrivals if i in scheduled]
    return {
        "rate": rate,
        "seconds": seconds,
        "mode": "distributed (PostgreSQL + JetStream)" if nats_url else ("PostgreSQL" if database_url else "embedded"),
        "sent": total,
        "accepted": len(answered),
        "paged": len(latencies),
        "page_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "page_p90_ms": round(_quantile(latencies, 0.90) * 1000, 1) if latencies else None,
        "page_p99_ms": round(_quantile(latencies, 0.99) * 1000, 1) if latencies else None,
        "page_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "ingest_p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
        "ingest_p99_ms": round(_quantile(answered, 0.99) * 1000, 1) if answered else None,
    }


async def _delete_stream(url: str, name: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="new incidents per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database-url", help="default: a fresh SQLite file (embedded mode)")
    parser.add_argument("--nats-url", help="distributed mode's queue, e.g. nats://127.0.0.1:4222")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.rate, args.seconds, args.database_url, args.nats_url))
    print(json.dumps(result, indent=2))
    return 0 if result["paged"] == result["accepted"] == result["sent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
