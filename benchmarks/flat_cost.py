"""Cost per alert as the number of open alerts grows (issue 6: flat from 1k to 1M open alerts).

    .venv/bin/python -m benchmarks.flat_cost                 # 1k, 10k, 100k, 1M open alerts
    .venv/bin/python -m benchmarks.flat_cost --sizes 1000,100000

For each size, a DedupState with correlation (the service's defaults) is filled with that many open alerts (unique
label sets, in batches of 1,000, through the same wire path as ingest), then timed on 200 batches of the peer's
stream: 100 Alertmanager alerts each, 90 re-fires of open alerts and 10 new ones. Prints the median time per
batch and per alert, and the process's RSS per open alert. No store: this is the decision stage (the event loop's
thread), where the state lives.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from benchmarks.conftest import SEED, make_labels
from benchmarks.test_ingest_path import _webhook
from llm_incident_manager import _core
from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.ingest import alertmanager
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.writeset import WriteSet

RECEIVED_AT = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
STARTS = "2026-03-01T11:59:00.000Z"


def _apply(state: DedupState, body: bytes) -> None:
    ctx = IngestContext(received_at=RECEIVED_AT, max_batch=1000)
    items, resolved = alertmanager.decode_wire(body, ctx)
    fps = _core.fingerprint_batch([item.labels for item in items])
    state.apply_wire(items, fps, resolved, RECEIVED_AT, WriteSet(), alertmanager.converter(items, ctx), body)


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(size: int, rng: random.Random) -> dict[str, float]:
    state = DedupState(900.0, CorrelationState(CorrelationConfig()))
    before = _rss()
    pool: list[dict[str, str]] = []
    while len(pool) < size:
        labels = make_labels(rng, min(1000, size - len(pool)))
        pool.extend(labels)
        _apply(state, _webhook([(lab, STARTS) for lab in labels]))
    filled = _rss()

    def batches() -> Iterator[bytes]:
        while True:
            new = make_labels(rng, 10)
            batch = [(lab, STARTS) for lab in new + [rng.choice(pool) for _ in range(90)]]
            rng.shuffle(batch)
            yield _webhook(batch)

    bodies = batches()
    times = []
    for _ in range(200):
        body = next(bodies)
        t0 = time.perf_counter()
        _apply(state, body)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"open_alerts": state.open_alerts, "open_incidents": state.open_incidents,
            "batch_ms": median * 1e3, "per_alert_us": median / 100 * 1e6,
            "rss_per_open_alert_b": (filled - before) / max(1, size)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    args = parser.parse_args()
    print("open alerts | open incidents | median per batch of 100 | per alert | RSS per open alert")
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(size, random.Random(SEED))
        print(f"{r['open_alerts']:>11,} | {r['open_incidents']:>14,} | {r['batch_ms']:>20.2f} ms | "
              f"{r['per_alert_us']:>6.1f} us | {r['rss_per_open_alert_b']:>8,.0f} B", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
