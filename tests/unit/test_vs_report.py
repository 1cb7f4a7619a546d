"""benchmarks/vs_alertmanager_report.py: the rate point's repeated runs are read in order and summarised by their
median, so one run's stall neither hides nor decides the figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.vs_alertmanager_report import load_rate_runs, rate_section


def _point(p99: float, p50: float = 2.0) -> dict[str, Any]:
    return {
        "alerts_per_s": 2000.0, "req_ok": 6000, "scheduled_requests": 6000, "batch": 10, "conc": 8,
        "client": "raw", "duration_req": 30.0, "offered_rate": 2000.0,
        "latency": {"p50_ms": p50, "p99_ms": p99},
        "latency_from_schedule": {"p50_ms": p50, "p99_ms": p99, "max_ms": p99 * 2},
    }  # fmt: skip


def _write(folder: Path, name: str, point: dict[str, Any]) -> None:
    (folder / name).write_text(json.dumps(point))


def test_the_median_run_is_quoted_and_the_ratio_is_of_medians(tmp_path: Path) -> None:
    for k, (am, ours) in enumerate([(3.0, 6.0), (4.0, 200.0), (2.0, 8.0)], 1):
        _write(tmp_path, f"rate-r{k}_alertmanager.json", _point(am))
        _write(tmp_path, f"rate-r{k}_ours-embedded.json", _point(ours))
    runs = load_rate_runs(tmp_path)
    assert len(runs) == 3
    text = "\n".join(rate_section(runs))
    assert "3 run(s) of every target" in text
    assert "ours-embedded: median of 3 run(s), from schedule: p50 2.00 ms, p99 **8.00 ms**" in text
    assert "(each run's p99: 6.00, 200.00, 8.00)" in text
    assert "alertmanager: median of 3 run(s), from schedule: p50 2.00 ms, p99 **3.00 ms**" in text
    assert "ours-embedded / Alertmanager, median p99 from schedule: 2.67x" in text


def test_a_single_run_of_an_older_script_is_still_read(tmp_path: Path) -> None:
    _write(tmp_path, "rate_alertmanager.json", _point(3.0))
    _write(tmp_path, "rate_ours-embedded.json", _point(12.0))
    runs = load_rate_runs(tmp_path)
    assert [sorted(r) for r in runs] == [["alertmanager", "ours-embedded"]]
    assert "ours-embedded / Alertmanager, median p99 from schedule: 4.00x" in "\n".join(rate_section(runs))
