"""``loadtest/run.py`` end to end, very short: it starts its own service, runs Locust at a fixed offered rate, stops
both, and leaves a ``summary.json`` that shows alerts accepted and no failures."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# find_spec, not an import: importing locust monkey-patches the whole test process with gevent
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="Locust is in the `load` extra (make deps installs it)"
)


def test_a_short_fixed_rate_run_accepts_alerts_without_failures(tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIM_")}
    done = subprocess.run(
        [
            sys.executable, str(ROOT / "loadtest" / "run.py"),
            "--run-time", "3s", "--users", "2", "--rate", "200", "--sample-every", "1", "--out", str(out),
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"run.py exited with {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alerts_ok"] > 0
    assert summary["failures"] == 0
    assert summary["mode"] == "embedded"
    assert summary["store"] == "sqlite"
    assert summary["offered_alerts_per_s"] == 200
    assert summary["rss_timeline"], "the service's RSS was not sampled"
    assert summary["service_alive_at_end"]
