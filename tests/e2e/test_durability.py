"""Durability of ingest, on SQLite and on PostgreSQL.

* The same alert sent 100 times is one incident with alert count 100.
* A 202 means durable: ``kill -9`` of the service between two batches, and again while requests are in flight,
  loses no alert that got a 202; after the restart the dedup state is rebuilt from the store, so a repeat of
  an alert that was open before the kill is deduplicated into the same incident.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerProcess
from tests.e2e.helpers import Api, wait_until

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def durable_server(request: pytest.FixtureRequest, server_factory: Any) -> ServerProcess:
    """A started server on a fresh database of each backend."""
    if request.param == "sqlite":
        server: ServerProcess = server_factory()
    else:
        server = server_factory(database_url=request.getfixturevalue("pg_database_factory")())
    server.start()
    return server


@pytest.fixture
def api(durable_server: ServerProcess) -> Iterator[Api]:
    with Api(durable_server, "admin") as client:
        yield client


# -- the same alert 100 times -------------------------------------------------------------------------------


def _check_one_incident(api: Api, results: list[dict[str, Any]], count: int) -> dict[str, Any]:
    assert len(results) == count
    ids = {r["incident_id"] for r in results}
    assert len(ids) == 1, f"{len(ids)} incidents for one alert"
    assert len({r["fingerprint"] for r in results}) == 1
    assert Counter(r["action"] for r in results) == {"created": 1, "deduplicated": count - 1}
    [incident_id] = ids
    incident = api.incident(incident_id)
    assert incident["alert_count"] == count
    assert incident["status"] == "triggered"
    [alert] = api.incident_alerts(incident_id)
    assert alert["count"] == count
    assert alert["fingerprint"] == results[0]["fingerprint"] == incident["fingerprint"]
    return incident


def test_same_alert_100_times_is_one_incident_with_count_100(api: Api) -> None:
    generic = {
        "title": "p99 latency above 2s",
        "severity": "high",
        "service": "chat",
        "labels": {"model": "llama-3-70b", "env": "prod"},
    }
    # Concurrent requests, so that repeats land in the same group commits as the one that creates.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.ingest("/api/v1/alerts", generic), range(100)))
    assert all(len(answer) == 1 for answer in answers)
    generic_incident = _check_one_incident(api, [a[0] for a in answers], 100)
    assert generic_incident["title"] == "p99 latency above 2s"
    assert generic_incident["model"] == "llama-3-70b"

    # The same Alertmanager notification 100 times (as Alertmanager repeats a group), one after the other.
    labels = {"alertname": "ModelErrorRateHigh", "model": "mistral-7b", "env": "prod", "severity": "critical"}
    notification = {
        "version": "4",
        "groupKey": '{}:{alertname="ModelErrorRateHigh"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "lim",
        "groupLabels": {"alertname": "ModelErrorRateHigh"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "error rate above 5%"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "error rate above 5%"},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": "",
            }
        ],
    }
    webhook_results = []
    for _ in range(100):
        [result] = api.ingest("/api/v1/integrations/alertmanager", notification)
        webhook_results.append(result)
    am_incident = _check_one_incident(api, webhook_results, 100)
    assert am_incident["severity"] == "critical"
    assert am_incident["labels"] == labels

    assert {i["id"] for i in api.incidents()} == {generic_incident["id"], am_incident["id"]}


# -- kill -9 ------------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the service acknowledged with a 202: per incident, how many trigger alerts it was told it holds."""

    counts: Counter[str] = field(default_factory=Counter)
    incident_of: dict[str, str] = field(default_factory=dict)  # alert title -> incident id
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, batch: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        assert len(results) == len(batch)
        with self.lock:
            for alert, result in zip(batch, results, strict=True):
                assert result["action"] in ("created", "deduplicated", "grouped"), result
                incident_id = result["incident_id"]
                known = self.incident_of.setdefault(alert["title"], incident_id)
                assert known == incident_id, f"{alert['title']!r} went to {incident_id}, before to {known}"
                self.counts[incident_id] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def titles(self) -> list[str]:
        with self.lock:
            return list(self.incident_of)


def _alert(title: str) -> dict[str, Any]:
    return {"title": title, "severity": "medium", "service": "llm-gateway", "labels": {"env": "prod"}}


def _batch(tag: str, rng: random.Random, earlier: list[str], size: int = 50) -> list[dict[str, Any]]:
    """``size`` alerts: new titles, repeats of titles acknowledged before, and a repeat within the batch."""
    repeats = rng.sample(earlier, min(len(earlier), 8))
    new = [f"{tag}-{i}" for i in range(size - len(repeats) - 1)]
    titles = [*new, *repeats, new[0]]
    rng.shuffle(titles)
    return [_alert(title) for title in titles]


def _send(client: httpx.Client, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/alerts", json=batch)
    assert response.status_code == 202, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _all_incidents(api: Api) -> dict[str, dict[str, Any]]:
    return {incident["id"]: incident for incident in api.incidents()}


def _check_each_acknowledged_incident(api: Api, ledger: Ledger, *, exact: bool) -> None:
    """GET every incident a 202 named; its alert count is what the 202s said (at least, when requests that got
    no answer may have added to it)."""

    def check(item: tuple[str, int]) -> None:
        incident_id, acknowledged = item
        incident = api.incident(incident_id)  # asserts 200: the incident survived
        if exact:
            assert incident["alert_count"] == acknowledged, incident
        else:
            assert incident["alert_count"] >= acknowledged, incident

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, list(ledger.counts.items())))


def _repeat_is_deduplicated(api: Api, ledger: Ledger, title: str) -> None:
    [result] = api.ingest("/api/v1/alerts", _alert(title))
    assert result["action"] == "deduplicated", f"{title!r} after the restart: {result}"
    assert result["incident_id"] == ledger.incident_of[title]
    ledger.record([_alert(title)], [result])


def test_kill_9_loses_no_acknowledged_alert(durable_server: ServerProcess) -> None:
    server = durable_server
    ledger = Ledger()
    rng = random.Random(20260301)

    # Phase 1: ten batches one after the other, then kill -9 between two batches: nothing is in flight, so
    # the store must hold exactly what the 202s acknowledged.
    with Api(server, "ingest") as ingest:
        for b in range(10):
            batch = _batch(f"phase1-b{b}", rng, ledger.titles())
            ledger.record(batch, _send(ingest.client, batch))
    phase1_titles = ledger.titles()
    server.kill(signal.SIGKILL)
    server.start()

    with Api(server, "admin") as api:
        incidents = _all_incidents(api)
        assert set(incidents) == set(ledger.counts), "the store holds exactly the acknowledged incidents"
        assert sum(i["alert_count"] for i in incidents.values()) == ledger.total == 500
        _check_each_acknowledged_incident(api, ledger, exact=True)
        assert all(i["status"] == "triggered" for i in incidents.values())
        # The dedup state was rebuilt from the store: repeats of alerts open before the kill join their incident.
        for title in rng.sample(phase1_titles, 3):
            _repeat_is_deduplicated(api, ledger, title)

    # Phase 2: four senders post batches without pause; kill -9 while their requests are in flight.
    stop = threading.Event()
    unanswered: list[list[dict[str, Any]]] = []
    acknowledged_batches = Counter[int]()
    failures: list[BaseException] = []

    def sender(worker: int) -> None:
        own = random.Random(worker)
        try:
            with Api(server, "ingest") as client:
                n = 0
                while not stop.is_set():
                    batch = _batch(f"phase2-w{worker}-b{n}", own, [*phase1_titles, *ledger.titles()[-200:]])
                    try:
                        response = client.client.post("/api/v1/alerts", json=batch)
                    except httpx.HTTPError:
                        unanswered.append(batch)
                        return
                    if response.status_code != 202:
                        unanswered.append(batch)
                        return
                    ledger.record(batch, response.json()["results"])
                    acknowledged_batches[worker] += 1
                    n += 1
        except BaseException as exc:  # surfaced in the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=sender, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(
            lambda: sum(acknowledged_batches.values()) >= 10 or failures,
            timeout=60,
            what="ten batches acknowledged while the senders run",
        )
        assert not failures, failures
        server.kill(signal.SIGKILL)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    server.start()

    with Api(server, "admin") as api:
        incidents = _all_incidents(api)
        _check_each_acknowledged_incident(api, ledger, exact=False)
        total = sum(i["alert_count"] for i in incidents.values())
        in_doubt = sum(len(batch) for batch in unanswered)
        # Every acknowledged alert is there; beyond them, only alerts of requests that got no answer may be.
        assert ledger.total <= total <= ledger.total + in_doubt, (ledger.total, total, in_doubt)
        unanswered_titles = {alert["title"] for batch in unanswered for alert in batch}
        for incident_id, incident in incidents.items():
            if incident_id not in ledger.counts:
                assert incident["title"] in unanswered_titles, incident
        # Dedup state rebuilt again: an alert of phase 1 and one acknowledged while the senders ran.
        phase2_titles = [t for t in ledger.titles() if t.startswith("phase2-")]
        assert phase2_titles
        _repeat_is_deduplicated(api, ledger, rng.choice(phase1_titles))
        _repeat_is_deduplicated(api, ledger, rng.choice(phase2_titles))
        # And a new alert still opens a new incident.
        [result] = api.ingest("/api/v1/alerts", _alert("after-the-second-kill"))
        assert result["action"] == "created"
        assert result["incident_id"] not in incidents
