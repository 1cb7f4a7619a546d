"""The page-latency benchmark runs (a short smoke run in ``make test``; the figures come from the full run in
RESULTS.md): every alert sent is accepted and paged."""

from __future__ import annotations

import asyncio

from benchmarks.notify_latency import run


def test_every_new_incident_is_paged() -> None:
    result = asyncio.run(run(rate=20, seconds=1.0, database_url=None, nats_url=None))
    assert result["sent"] == 20
    assert result["accepted"] == 20
    assert result["paged"] == 20
