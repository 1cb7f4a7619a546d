"""The ingest path per batch, without HTTP, and the SQLite commit's way of sending many rows.

* ``decide_batch_of_100``: one Alertmanager webhook of 100 alerts (90 % repeats of open alerts, 10 % new)
  decoded, fingerprinted, deduplicated and correlated into its WriteSet: the wire path (``decode_wire`` +
  ``DedupState.apply_wire``: repeats never normalised) against normalising every alert first (``decode`` +
  ``apply``).
* ``flush_2000_counters``: folding 2,000 counters of repeats into a table of 20,000 alert rows: the counters
  whose text is the row's own add two numbers (``store.sqlite._flush``) against rewriting every text column.
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
from llm_incident_manager.store.sqlite import _flush

ROUNDS = 50
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


def _counter_table(path: Path) -> tuple[sqlite3.Connection, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE incident_alerts (seq INTEGER PRIMARY KEY, incident_id TEXT, fingerprint TEXT, count INT, "
        "last_seen_at INT, title TEXT, severity TEXT, labels TEXT, annotations TEXT, UNIQUE (incident_id, fingerprint))"
    )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO incident_alerts (incident_id, fingerprint, count, last_seen_at, title, severity, labels, "
        "annotations) VALUES (?, ?, 1, 0, 'GPUMemoryHigh', 'high', '{\"alertname\":\"GPUMemoryHigh\"}', "
        '\'{"summary":"GPU memory above 95% on chat-api","runbook_url":"https://runbooks.example/gpu"}\')',
        [(f"i{k // 4}", f"{k:016x}") for k in range(20_000)],
    )
    conn.execute("COMMIT")
    rng = random.Random(SEED)
    rows = [(1, 5, f"i{k // 4}", f"{k:016x}") for k in rng.sample(range(20_000), 2000)]
    return conn, rows


@pytest.fixture(params=["counts", "with_text"])
def counters(request: pytest.FixtureRequest) -> Iterator[tuple[str, sqlite3.Connection, list[tuple[Any, ...]]]]:
    with tempfile.TemporaryDirectory() as tmp:
        conn, rows = _counter_table(Path(tmp, "c.db"))
        try:
            yield request.param, conn, rows
        finally:
            conn.close()


@pytest.mark.usefixtures("record_median")
def test_flush_counters(benchmark: BenchmarkFixture, counters: tuple[str, sqlite3.Connection, list[Any]]) -> None:
    kind, conn, rows = counters
    benchmark.group = "flush_2000_counters"

    annotations = '{"summary":"GPU memory above 95% on chat-api","runbook_url":"https://runbooks.example/gpu"}'
    texts = [
        (c, at, "GPUMemoryHigh", "high", '{"alertname":"GPUMemoryHigh"}', annotations, i, f) for c, at, i, f in rows
    ]

    def flush() -> None:
        conn.execute("BEGIN")
        if kind == "counts":  # the text stands: title and labels None
            _flush(conn, [(c, at, None, None, None, None, i, f) for c, at, i, f in rows], [])
        else:
            _flush(conn, texts, [])
        conn.execute("COMMIT")

    before = conn.execute("SELECT sum(count) FROM incident_alerts").fetchone()[0]
    benchmark.pedantic(flush, rounds=5, iterations=1)
    after = conn.execute("SELECT sum(count) FROM incident_alerts").fetchone()[0]
    runs = 5 if benchmark.enabled else 1
    assert after - before == 2000 * runs
