"""Debian's ``amtool`` against the service, as against an Alertmanager: ``silence add|query|expire`` and
``alert add`` through the Alertmanager API v2, the API key passed with ``--http.config.file``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerProcess, require_peer
from tests.e2e.helpers import Api, wait_until

AMTOOL = shutil.which("amtool")


@pytest.fixture(autouse=True)
def _amtool_installed() -> None:
    require_peer(AMTOOL, "amtool")


def _amtool(server: ServerProcess, config: Path, *args: str) -> str:
    assert AMTOOL is not None
    done = subprocess.run(
        [AMTOOL, f"--alertmanager.url={server.url}", f"--http.config.file={config}", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"amtool {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def test_amtool_silences_and_alerts(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "http.yml"
    config.write_text(f"authorization:\n  type: Bearer\n  credentials: {server.key('admin')}\n")

    silence_id = _amtool(server, config, "silence", "add", "alertname=ModelQualityDrop", 'model=~"llama-.*"',
                         "--comment=eval rerun", "--author=ana", "--duration=2h")  # fmt: skip
    assert len(silence_id) == 36
    listed = json.loads(_amtool(server, config, "silence", "query", "-o", "json"))
    [found] = [s for s in listed if s["id"] == silence_id]
    assert found["createdBy"] == "ana"
    assert {(m["name"], m["value"], m["isRegex"]) for m in found["matchers"]} == {
        ("alertname", "ModelQualityDrop", False), ("model", "llama-.*", True)
    }  # fmt: skip
    assert _amtool(server, config, "silence", "query", "-q", "alertname=ModelQualityDrop") == silence_id

    _amtool(server, config, "alert", "add", "alertname=ModelQualityDrop", "model=llama-70b", "severity=critical",
            "--annotation=summary=eval score below threshold")  # fmt: skip
    _amtool(server, config, "alert", "add", "alertname=ModelQualityDrop", "model=mistral-7b", "severity=critical",
            "--annotation=summary=eval score below threshold on mistral")  # fmt: skip
    with Api(server) as api:
        incidents = wait_until(lambda: len(api.incidents()) == 2 and api.incidents(), what="two incidents")
        titles = sorted(i["title"] for i in incidents)
        assert titles == ["eval score below threshold", "eval score below threshold on mistral"]

    _amtool(server, config, "silence", "expire", silence_id)
    assert _amtool(server, config, "silence", "query", "-q", "alertname=ModelQualityDrop") == ""
    expired = _amtool(server, config, "silence", "query", "--expired", "-q", "alertname=ModelQualityDrop")
    assert expired == silence_id


def test_amtool_without_a_key_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    assert AMTOOL is not None
    done = subprocess.run(
        [AMTOOL, f"--alertmanager.url={server.url}", "silence", "query"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
