"""A real Alertmanager (Debian's prometheus-alertmanager) notifies the service: one incident per label set,
with Alertmanager's own fingerprint, resolved when Alertmanager sends the resolve. Both the webhook receiver
(``/api/v1/integrations/alertmanager``) and the PagerDuty receiver pointed at ``/v2/enqueue`` are covered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, free_port, require_peer
from tests.e2e.helpers import Api, wait_until

pytestmark = pytest.mark.alertmanager

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Alertmanager:
    """One Alertmanager process on a loopback port, clustering off, with its own storage directory."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (firing and, until they are gone, resolved)."""
        response = httpx.get(f"{self.url}/api/v2/alerts", params={"silenced": "false"}, timeout=10)
        assert response.status_code == 200, response.text
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def amtool(self, *args: str) -> str:
        assert AMTOOL is not None
        done = subprocess.run(
            [AMTOOL, f"--alertmanager.url={self.url}", "--no-version-check", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"amtool {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID: Popen.terminate signals this process only
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Alertmanager]]:
    """Starts Alertmanager with a given configuration; every one started is stopped at teardown."""
    require_peer(ALERTMANAGER, "prometheus-alertmanager")
    require_peer(AMTOOL, "amtool")
    started: list[Alertmanager] = []

    def start(config: dict[str, Any]) -> Alertmanager:
        n = len(started)
        config_file = tmp_path / f"alertmanager-{n}.yml"
        config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
        storage = tmp_path / f"alertmanager-{n}-data"
        storage.mkdir()
        port = free_port()
        log = tmp_path / f"alertmanager-{n}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(ALERTMANAGER),
                    f"--config.file={config_file}",
                    f"--storage.path={storage}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=debug",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        am = Alertmanager(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
        started.append(am)

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"alertmanager exited with {proc.returncode}: {log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{am.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, what="alertmanager to become ready")
        return am

    yield start
    for am in started:
        am.stop()


def _route(group_by: list[str]) -> dict[str, Any]:
    # Fast notification: group_wait and group_interval small. resolve_timeout only applies to alerts pushed
    # without endsAt; it is kept longer than the test so that every resolve here is an explicit one.
    return {
        "receiver": "lim",
        "group_by": group_by,
        "group_wait": "100ms",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }


LABEL_SETS: list[dict[str, str]] = [
    {"alertname": "ModelLatencyHigh", "model": "llama-3-70b", "env": "prod", "severity": "critical"},
    {"alertname": "ModelLatencyHigh", "model": "mistral-7b", "env": "prod", "severity": "warning"},
    # Label names out of order and a value beyond ASCII: the fingerprint must still be Alertmanager's.
    {"alertname": "GPUMemoryPressure", "zone": "eu-west-1a", "node": "gpu-7", "team": 'ML platform ü/✓ "q"'},
]


def _am_fingerprints(am: Alertmanager) -> dict[str, dict[str, str]]:
    """Alertmanager's fingerprint of each alert it holds, with the alert's labels."""
    return {alert["fingerprint"]: alert["labels"] for alert in am.alerts()}


def _fp_of(fingerprints: dict[str, dict[str, str]], labels: dict[str, str]) -> str:
    [fp] = [fp for fp, held in fingerprints.items() if held == labels]
    return fp


def test_alertmanager_webhook_one_incident_per_label_set_then_resolved(
    server: ServerProcess, alertmanager_factory: Callable[[dict[str, Any]], Alertmanager]
) -> None:
    ingest_key = server.key("ingest")
    am = alertmanager_factory(
        {
            "global": {"resolve_timeout": "5m"},
            "route": _route(["alertname"]),
            "receivers": [
                {
                    "name": "lim",
                    "webhook_configs": [
                        {
                            "url": f"{server.url}/api/v1/integrations/alertmanager",
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": ingest_key}},
                        }
                    ],
                }
            ],
        }
    )
    first, second, third = LABEL_SETS
    with Api(server, "viewer") as api:
        # The first label set through amtool, twice; the others through the API, the second one twice; then
        # the first again through the API. Alertmanager keeps one alert per label set.
        amtool_args = [f"{k}={v}" for k, v in first.items()]
        am.amtool("alert", "add", *amtool_args, "--annotation=summary=p99 latency above 2s")
        am.amtool("alert", "add", *amtool_args, "--annotation=summary=p99 latency above 2s")

        # As Prometheus does: startsAt now, endsAt a while ahead (renewed by every repeat).
        def firing(labels: dict[str, str], summary: str) -> dict[str, Any]:
            now = _now()
            return {
                "labels": labels,
                "annotations": {"summary": summary},
                "startsAt": _rfc3339(now),
                "endsAt": _rfc3339(now + timedelta(minutes=10)),
            }

        am.post_alerts([firing(second, "p99 latency above 1s"), firing(third, "GPU memory above 95%")])
        am.post_alerts([firing(second, "p99 latency above 1s")])
        am.post_alerts([firing(first, "p99 latency above 2s")])

        def three_held() -> dict[str, dict[str, str]] | None:
            fps = _am_fingerprints(am)
            return fps if len(fps) == 3 else None

        fingerprints = wait_until(three_held, what="Alertmanager to hold three alerts")
        assert sorted(fingerprints.values(), key=lambda x: sorted(x.items())) == sorted(
            LABEL_SETS, key=lambda x: sorted(x.items())
        )
        for fp in fingerprints:
            assert re.fullmatch(r"[0-9a-f]{16}", fp), fp

        def incidents_by_fingerprint() -> dict[str, dict[str, Any]] | None:
            incidents = api.incidents()
            by_fp = {incident["fingerprint"]: incident for incident in incidents}
            return by_fp if set(by_fp) >= set(fingerprints) else None

        by_fp = wait_until(incidents_by_fingerprint, timeout=20, what="one incident per Alertmanager alert")
        incidents = api.incidents()
        assert len(incidents) == 3, incidents
        assert set(by_fp) == set(fingerprints)  # the service's fingerprint is Alertmanager's own
        for fp, labels in fingerprints.items():
            incident = by_fp[fp]
            assert incident["status"] == "triggered"
            assert incident["labels"] == labels
            assert incident["source"] == "alertmanager"
            assert incident["alert_count"] >= 1
            [alert] = api.incident_alerts(incident["id"])
            assert alert["fingerprint"] == fp
            assert alert["labels"] == labels
            assert alert["status"] == "firing"
        assert by_fp[_fp_of(fingerprints, first)]["severity"] == "critical"
        assert by_fp[_fp_of(fingerprints, first)]["title"] == "p99 latency above 2s"
        assert by_fp[_fp_of(fingerprints, first)]["model"] == "llama-3-70b"
        assert by_fp[_fp_of(fingerprints, third)]["node"] == "gpu-7"
        assert by_fp[_fp_of(fingerprints, third)]["region"] == "eu-west-1a"

        # Resolve: the first through amtool with --end, the others through the API with endsAt = now.
        held = {alert["fingerprint"]: alert for alert in am.alerts()}
        end = _now()
        am.amtool(
            "alert",
            "add",
            *amtool_args,
            "--annotation=summary=p99 latency above 2s",
            f"--start={held[_fp_of(fingerprints, first)]['startsAt']}",
            f"--end={_rfc3339(end)}",
        )
        am.post_alerts(
            [
                {
                    "labels": labels,
                    "annotations": held[fp]["annotations"],
                    "startsAt": held[fp]["startsAt"],
                    "endsAt": _rfc3339(end),
                }
                for fp, labels in fingerprints.items()
                if labels != first
            ]
        )

        def all_resolved() -> list[dict[str, Any]] | None:
            incidents = api.incidents()
            return incidents if all(i["status"] == "resolved" for i in incidents) else None

        resolved = wait_until(all_resolved, timeout=20, what="Alertmanager's resolve to resolve every incident")
        assert len(resolved) == 3
        assert {i["fingerprint"] for i in resolved} == set(fingerprints)
        for incident in resolved:
            assert incident["resolved_by"] == "alertmanager:alertmanager"
            assert incident["resolved_at"] is not None
            [alert] = api.incident_alerts(incident["id"])
            assert alert["status"] == "resolved"
            kinds = [event["kind"] for event in api.timeline(incident["id"])]
            assert kinds[0] == "created"
            assert kinds[-1] == "resolved"
            assert kinds.count("created") == 1


def test_alertmanager_pagerduty_receiver_triggers_and_resolves(
    server: ServerProcess, alertmanager_factory: Callable[[dict[str, Any]], Alertmanager]
) -> None:
    ingest_key = server.key("ingest")
    am = alertmanager_factory(
        {
            "global": {"resolve_timeout": "5m"},
            "route": _route(["..."]),
            "receivers": [
                {
                    "name": "lim",
                    "pagerduty_configs": [
                        {
                            "routing_key": ingest_key,
                            "url": f"{server.url}/v2/enqueue",
                            "send_resolved": True,
                            "severity": "critical",
                        }
                    ],
                }
            ],
        }
    )
    labels = {"alertname": "TokenThroughputLow", "model": "llama-3-8b", "env": "staging"}
    am.post_alerts(
        [
            {
                "labels": labels,
                "annotations": {"summary": "tokens/s below 100"},
                "startsAt": _rfc3339(_now()),
                "endsAt": _rfc3339(_now() + timedelta(minutes=10)),
            }
        ]
    )
    with Api(server, "viewer") as api:
        [incident] = wait_until(api.incidents, timeout=20, what="the PagerDuty event from Alertmanager")
        assert incident["status"] == "triggered"
        assert incident["severity"] == "critical"
        assert "TokenThroughputLow" in incident["title"]
        [alert] = api.incident_alerts(incident["id"])
        # Alertmanager's dedup key for PagerDuty: the SHA-256 of the group key, in hex.
        assert re.fullmatch(r"[0-9a-f]{64}", alert["dedup_key"] or ""), alert
        assert alert["status"] == "firing"

        [held] = am.alerts()
        am.post_alerts(
            [
                {
                    "labels": labels,
                    "annotations": held["annotations"],
                    "startsAt": held["startsAt"],
                    "endsAt": _rfc3339(_now()),
                }
            ]
        )

        def resolved() -> dict[str, Any] | None:
            current = api.incident(incident["id"])
            return current if current["status"] == "resolved" else None

        done = wait_until(resolved, timeout=20, what="Alertmanager's PagerDuty resolve")
        assert done["resolved_by"] is not None
        assert done["resolved_by"].startswith("pagerduty:")
        [alert] = api.incident_alerts(incident["id"])
        assert alert["status"] == "resolved"
        assert len(api.incidents()) == 1, "the resolve matched the incident the trigger opened"
