"""The served process's interpreter settings (``services.tune_runtime``), in a child interpreter: they are global."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import gc, sys
from llm_incident_manager import services

kept = [[i] for i in range(2000)]  # lists: always tracked by the collector
services.freeze_started_state()  # not served: a no-op
assert gc.get_freeze_count() == 0, gc.get_freeze_count()

services.tune_runtime()
frozen = gc.get_freeze_count()
assert gc.get_threshold() == services.GC_THRESHOLD
assert abs(sys.getswitchinterval() - services.SWITCH_INTERVAL) < 1e-6

started = [[i] for i in range(2000)]  # what the worker builds after the fork
services.freeze_started_state()
assert gc.get_freeze_count() >= frozen + 2000, (frozen, gc.get_freeze_count())
print("ok")
"""


def test_the_state_built_after_tuning_is_frozen_once_the_app_has_started() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
