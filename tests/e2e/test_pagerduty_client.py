"""PagerDuty's own Python client (the ``pagerduty`` package) drives ``/v2/enqueue``: trigger, acknowledge and
resolve an incident, and the errors it raises on for a bad routing key or an invalid event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pagerduty
import pytest

from tests.e2e.conftest import ServerProcess
from tests.e2e.helpers import Api


class LoopbackEventsClient(pagerduty.EventsApiV2Client):
    """The library accepts only ``https://`` base URLs (PagerDuty's own endpoints). The service under test
    listens on plain HTTP on loopback, so this subclass relaxes that one check and nothing else; every request
    still goes through the library's own request, retry and error handling."""

    @property
    def url(self) -> str:
        return self._url  # type: ignore[no-any-return]

    @url.setter
    def url(self, new_base_url: str) -> None:
        self._url = new_base_url


class RecordingClient:
    """A client pointed at the service, recording the URL of every request it sends."""

    def __init__(self, server: ServerProcess, routing_key: str) -> None:
        self.sent: list[str] = []
        self.client = LoopbackEventsClient(
            routing_key,
            base_url=server.url,
            event_hooks={"request": [lambda request: self.sent.append(str(request.url))]},
        )
        self.client.max_network_attempts = 0  # a dead service fails the test at once

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def pd(server: ServerProcess) -> Iterator[RecordingClient]:
    client = RecordingClient(server, server.key("ingest"))
    yield client
    client.close()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Api]:
    with Api(server, "viewer") as viewer:
        yield viewer


def _incident_of(api: Api, dedup_key: str) -> dict[str, Any]:
    """The one incident whose alert carries ``dedup_key``."""
    found = [i for i in api.incidents() if any(a["dedup_key"] == dedup_key for a in api.incident_alerts(i["id"]))]
    assert len(found) == 1, f"{len(found)} incidents hold dedup key {dedup_key!r}"
    return found[0]


def test_client_triggers_acknowledges_and_resolves(server: ServerProcess, pd: RecordingClient, api: Api) -> None:
    dedup_key = pd.client.trigger(
        "GPU memory above 95% on gpu-7",
        "gpu-7.eu-west-1",
        severity="error",
        custom_details={"model": "llama-3-70b", "env": "prod", "free_gib": 1.5},
    )
    assert pd.sent == [f"{server.url}/v2/enqueue"]
    assert isinstance(dedup_key, str)
    assert dedup_key  # the service made one up, as PagerDuty does, and returned it

    incident = _incident_of(api, dedup_key)  # the dedup_key the client got is the one the service stored
    assert incident["status"] == "triggered"
    assert incident["severity"] == "high"  # PagerDuty's "error"
    assert incident["title"] == "GPU memory above 95% on gpu-7"
    assert incident["source"] == "gpu-7.eu-west-1"
    assert incident["model"] == "llama-3-70b"
    assert incident["env"] == "prod"
    assert incident["alert_count"] == 1
    [alert] = api.incident_alerts(incident["id"])
    assert alert["dedup_key"] == dedup_key
    assert alert["annotations"]["free_gib"] == "1.5"

    # A repeat of the trigger with the key (the client's default severity, critical) is deduplicated into the
    # incident and raises its severity.
    assert pd.client.trigger("GPU memory above 95% on gpu-7", "gpu-7.eu-west-1", dedup_key=dedup_key) == dedup_key
    repeated = api.incident(incident["id"])
    assert repeated["alert_count"] == 2
    assert repeated["severity"] == "critical"

    assert pd.client.acknowledge(dedup_key) == dedup_key
    acknowledged = api.incident(incident["id"])
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_at"] is not None
    assert acknowledged["acknowledged_by"].startswith("pagerduty:")

    assert pd.client.resolve(dedup_key) == dedup_key
    resolved = api.incident(incident["id"])
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert resolved["resolved_by"].startswith("pagerduty:")
    assert resolved["alert_count"] == 2
    kinds = [event["kind"] for event in api.timeline(incident["id"])]
    assert kinds == ["created", "severity_raised", "acknowledged", "alert_resolved", "resolved"]

    assert pd.sent == [f"{server.url}/v2/enqueue"] * 4
    assert len(api.incidents()) == 1


def test_client_dedup_key_of_its_own_choosing(pd: RecordingClient, api: Api) -> None:
    key = "checkout/llm-gateway/5xx-rate"
    assert pd.client.trigger("5xx rate above 5%", "llm-gateway", dedup_key=key, severity="critical") == key
    incident = _incident_of(api, key)
    assert incident["severity"] == "critical"
    assert pd.client.resolve(key) == key
    assert api.incident(incident["id"])["status"] == "resolved"
    # After the resolve, the same key opens a new incident, as in PagerDuty.
    assert pd.client.trigger("5xx rate above 5%", "llm-gateway", dedup_key=key, severity="critical") == key
    incidents = api.incidents()
    assert len(incidents) == 2
    assert {i["status"] for i in incidents} == {"triggered", "resolved"}


def test_unknown_routing_key_is_a_4xx_the_client_raises_on(server: ServerProcess, api: Api) -> None:
    client = RecordingClient(server, "0" * 32)
    try:
        with pytest.raises(pagerduty.HttpError) as raised:
            client.client.trigger("p99 latency high", "llm-gateway")
    finally:
        client.close()
    response = raised.value.response
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"]
    assert any("routing_key" in error for error in body["errors"]), body
    assert client.sent == [f"{server.url}/v2/enqueue"]  # one attempt: a 4xx is not retried
    assert api.incidents() == []


def test_routing_key_of_a_role_that_may_not_ingest_is_refused(server: ServerProcess, api: Api) -> None:
    client = RecordingClient(server, server.key("viewer"))
    try:
        with pytest.raises(pagerduty.HttpError) as raised:
            client.client.trigger("p99 latency high", "llm-gateway")
    finally:
        client.close()
    assert raised.value.response.status_code == 403
    assert any("routing_key" in error for error in raised.value.response.json()["errors"])
    assert api.incidents() == []


def test_trigger_without_severity_is_400_naming_the_field(pd: RecordingClient, api: Api) -> None:
    with pytest.raises(pagerduty.HttpError) as raised:
        pd.client.send_event("trigger", payload={"summary": "p99 latency high", "source": "llm-gateway"})
    response = raised.value.response
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "invalid event"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], list)
    assert len(body["errors"]) == 1
    assert "payload.severity" in body["errors"][0]
    assert api.incidents() == []


def test_acknowledge_of_an_unknown_key_is_accepted_and_ignored(pd: RecordingClient, api: Api) -> None:
    # PagerDuty accepts an acknowledge for a key it does not know; so does the service, changing nothing.
    assert pd.client.acknowledge("never-triggered") == "never-triggered"
    assert api.incidents() == []
