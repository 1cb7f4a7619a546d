"""The ingest path per batch, without HTTP, and the SQLite commit's way of sending many rows.

* ``decide_batch_of_100``: one Alertmanager webhook of 100 alerts (90 % repeats of open alerts, 10 % new)
  decoded, fingerprinted, deduplicated and correlated into its WriteSet: the wire path (``decode_wire`` +
  ``DedupState.apply_wire``: repeats never normalised) against normalising every alert first (``decode`` +
  ``apply``).
* ``flush_2000_counters``: folding 2,000 counters of repeats into the counters of 20,000 open alerts, commit
  included: upserts into the narrow ``alert_counts`` table (``store.sqlite._flush``, migration 0008) against an
  ``UPDATE`` of each alert's wide ``incident_alerts`` row (labels, annotations: what the flush did before).
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.conftest import SEED, make_labels
from llm_incident_manager import _core
from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.ingest import alertmanager
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writeset import WriteSet
from llm_incident_manager.store.migrations import migrations
from llm_incident_manager.store.sqlite import SQLiteStore, _flush, _statements

ROUNDS = 50
WARMUP = 30
RECEIVED_AT = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def _webhook(alerts: list[tuple[dict[str, str], str]]) -> bytes:
    """A webhook of firing alerts, each (labels, startsAt): a re-fired alert keeps its labels and start."""
    return msgspec.json.encode(
        {
            "version": "4",
            "status": "firing",
            "receiver": "lim",
            "alerts": [
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {
                        "summary": f"{labels['alertname']} on {labels['model']} in {labels['region']}",
                        "description": f"{labels['alertname']} for {labels['model_version']} is above its threshold.",
                        "runbook_url": f"https://runbooks.example.internal/llm/{labels['alertname'].lower()}",
                    },
                    "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example.internal:9090/graph",
                }
                for labels, starts in alerts
            ],
        }
    )


def _stream(rng: random.Random) -> Iterator[bytes]:
    """The peer's stream: webhooks of 100 firing alerts, 10 new label sets and 90 re-fires of earlier ones."""
    starts = "2026-03-01T11:59:00.000Z"
    pool = [(labels, starts) for labels in make_labels(rng, 100)]
    yield _webhook(pool)
    while True:
        new = [(labels, starts) for labels in make_labels(rng, 10)]
        batch = new + [rng.choice(pool) for _ in range(90)]
        pool.extend(new)
        rng.shuffle(batch)
        yield _webhook(batch)


def _decide(kind: str, state: DedupState, body: bytes) -> WriteSet:
    ctx = IngestContext(received_at=RECEIVED_AT, max_batch=1000)
    ws = WriteSet()
    if kind == "wire":
        items, resolved = alertmanager.decode_wire(body, ctx)
        fps = _core.fingerprint_batch([item.labels for item in items])
        state.apply_wire(items, fps, resolved, RECEIVED_AT, ws, alertmanager.converter(items, ctx), body)
    else:
        alerts = alertmanager.decode(body, ctx)
        state.apply(alerts, fingerprint_alerts(alerts), RECEIVED_AT, ws)
    return ws


@pytest.fixture(params=["wire", "normalise_all"])
def decider(request: pytest.FixtureRequest) -> tuple[str, DedupState, Iterator[bytes]]:
    state = DedupState(900.0, CorrelationState(CorrelationConfig()))
    bodies = _stream(random.Random(SEED))
    _decide(request.param, state, next(bodies))  # the first batch opens the pool's incidents
    for _ in range(WARMUP):  # the first batches of a process pay for caches and lazy set-up: not what is compared
        _decide(request.param, state, next(bodies))
    return request.param, state, bodies


@pytest.mark.usefixtures("record_median")
def test_decide_batch(benchmark: BenchmarkFixture, decider: tuple[str, DedupState, Iterator[bytes]]) -> None:
    """Decode, fingerprint, dedup and correlate one batch into its WriteSet (what the event loop's thread does
    per request before the commit)."""
    kind, state, bodies = decider
    benchmark.group = "decide_batch_of_100"
    ws = benchmark.pedantic(lambda: _decide(kind, state, next(bodies)), rounds=ROUNDS, iterations=1)
    decisions = ws.log[0].decisions
    assert len(decisions) == 100
    assert sum(1 for d in decisions if d[2] == "deduplicated") >= 80


#: the flush as it was before migration 0008: each repeat's counters folded into its wide incident_alerts row
_WIDE_FLUSH = (
    "UPDATE incident_alerts SET count = count + ?, last_seen_at = max(last_seen_at, ?) "
    "WHERE incident_id = ? AND fingerprint = ?"
)
_TOTAL = "SELECT sum(a.count) + coalesce((SELECT sum(count) FROM alert_counts), 0) FROM incident_alerts a"


def _counter_table(path: Path) -> tuple[sqlite3.Connection, list[tuple[Any, ...]]]:
    """The store's own schema and connection settings, 20,000 open alerts with the peer stream's labels and
    annotations (about 700 bytes each, as Alertmanager sends them)."""
    conn = SQLiteStore(f"sqlite:///{path}")._connect()
    conn.execute("PRAGMA foreign_keys=OFF")  # the alerts' incidents are not there: only the counters matter here
    for _version, _name, sql in migrations("sqlite"):
        for statement in _statements(sql):
            conn.execute(statement)
    annotations = msgspec.json.encode(
        {"summary": "GPU memory above 95% on chat-api", "description": "GPU memory on node gpu-7 has been above "
         "95% for 5 minutes; requests may fail with CUDA OOM.", "runbook_url": "https://runbooks.example/gpu"}
    ).decode()  # fmt: skip
    rng = random.Random(SEED)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO incident_alerts (incident_id, fingerprint, status, title, severity, source, explicit, labels, "
        "annotations, count, first_seen_at, last_seen_at) "
        "VALUES (?, ?, 'firing', 'GPUMemoryHigh', 'high', 'alertmanager-api', 0, ?, ?, 1, 0, 0)",
        [(f"i{k // 200}", f"{k:016x}", msgspec.json.encode(labels).decode(), annotations)
         for k, labels in enumerate(make_labels(rng, 20_000))],
    )  # fmt: skip
    conn.execute("COMMIT")
    rows = [(1, 5, f"i{k // 200}", f"{k:016x}") for k in rng.sample(range(20_000), 2000)]
    return conn, rows


@pytest.fixture(params=["alert_counts", "wide_rows"])
def counters(request: pytest.FixtureRequest) -> Iterator[tuple[str, sqlite3.Connection, list[tuple[Any, ...]]]]:
    with tempfile.TemporaryDirectory() as tmp:
        conn, rows = _counter_table(Path(tmp, "c.db"))
        try:
            yield request.param, conn, rows
        finally:
            conn.close()


@pytest.mark.usefixtures("record_median")
def test_flush_counters(benchmark: BenchmarkFixture, counters: tuple[str, sqlite3.Connection, list[Any]]) -> None:
    """One flush of 2,000 repeats' counters (the text stands), commit included: into the narrow alert_counts
    table (what the store does) or into each alert's wide incident_alerts row (what it did before 0008)."""
    kind, conn, rows = counters
    benchmark.group = "flush_2000_counters"

    def flush() -> None:
        conn.execute("BEGIN")
        if kind == "alert_counts":
            _flush(conn, [(c, at, None, None, None, None, i, f) for c, at, i, f in rows], [])
        else:
            conn.executemany(_WIDE_FLUSH, rows)
        conn.execute("COMMIT")

    before = conn.execute(_TOTAL).fetchone()[0]
    benchmark.pedantic(flush, rounds=5, iterations=1)
    after = conn.execute(_TOTAL).fetchone()[0]
    runs = 5 if benchmark.enabled else 1
    assert after - before == 2000 * runs
