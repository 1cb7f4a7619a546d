"""Alertmanager webhook, PagerDuty Events v2 and CloudEvents ingest, in-process, on both backends."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from llm_incident_manager.pipeline.reference import label_fingerprint
from tests.integration.conftest import Api

GO_ZERO = "0001-01-01T00:00:00Z"


def am_alert(name: str = "ModelLatencyP99High", status: str = "firing", **labels: str) -> dict[str, Any]:
    all_labels = {
        "alertname": name,
        "service": "chat",
        "model": "llama-3-70b",
        "env": "prod",
        "severity": "critical",
        **labels,
    }
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} on chat", "runbook_url": "https://runbooks/x"},
        "startsAt": "2026-03-01T12:00:00.123456789Z",
        "endsAt": "2026-03-01T12:05:00Z" if status == "resolved" else GO_ZERO,
        "generatorURL": "http://prometheus/graph",
        "fingerprint": label_fingerprint(all_labels),
    }


def am_webhook(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "lim",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **extra,
    }


async def test_alertmanager_webhook_one_incident_per_label_set_then_resolve(api: Api) -> None:
    body = am_webhook(
        am_alert(instance="a"),
        am_alert(instance="b"),
        am_alert(instance="a"),
        notification_reason="new_alerts",
        routeLabels={"x": "y"},
    )
    response = await api.post("/api/v1/integrations/alertmanager", body, role="ingest")
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    # instance b is the same symptom as instance a: it joins a's incident (correlation's label grouping)
    assert [r["action"] for r in results] == ["created", "grouped", "deduplicated"]
    assert results[0]["incident_id"] == results[1]["incident_id"] == results[2]["incident_id"]
    # our fingerprint is Alertmanager's own
    assert [r["fingerprint"] for r in results] == [a["fingerprint"] for a in body["alerts"]]
    incident = await api.incident(results[0]["incident_id"])
    assert incident["severity"] == "critical"
    assert incident["title"] == "ModelLatencyP99High on chat"
    assert incident["model"] == "llama-3-70b"
    assert incident["last_seen_at"].startswith("2026-03-01T12:00:00.12345")  # nanoseconds round to micro
    resolved = await api.post(
        "/api/v1/integrations/alertmanager", am_webhook(am_alert(status="resolved", instance="a")), role="ingest"
    )
    assert resolved.json()["results"][0]["action"] == "resolved"
    assert (await api.incident(results[0]["incident_id"]))["status"] == "triggered"  # b still fires
    resolved = await api.post(
        "/api/v1/integrations/alertmanager", am_webhook(am_alert(status="resolved", instance="b")), role="ingest"
    )
    assert resolved.json()["results"][0]["action"] == "resolved"
    assert (await api.incident(results[0]["incident_id"]))["status"] == "resolved"


async def test_alertmanager_payload_errors_name_the_field(api: Api) -> None:
    response = await api.post("/api/v1/integrations/alertmanager", am_webhook({"status": "firing"}), role="ingest")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "alerts[0].labels"
    bad_status = am_webhook(am_alert(status="pending"))
    response = await api.post("/api/v1/integrations/alertmanager", bad_status, role="ingest")
    assert response.json()["errors"][0]["field"] == "alerts[0].status"


def pd_event(key: str, action: str = "trigger", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"routing_key": key, "event_action": action, **extra}
    if action == "trigger":
        event.setdefault(
            "payload",
            {
                "summary": "GPU 3 ECC errors",
                "source": "gpu-node-7",
                "severity": "error",
                "component": "gpu",
                "group": "inference",
                "custom_details": {"model": "mixtral", "errors": 12},
            },
        )
    return event


async def test_pagerduty_trigger_acknowledge_resolve(api: Api) -> None:
    key = await api.key("ingest")
    response = await api.client.post("/v2/enqueue", json=pd_event(key, dedup_key="gpu-7-ecc"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["message"], body["dedup_key"]) == ("success", "Event processed", "gpu-7-ecc")
    [result] = body["results"]
    assert result["action"] == "created"
    incident = await api.incident(result["incident_id"])
    assert (incident["severity"], incident["model"], incident["service"]) == ("high", "mixtral", "inference")
    ack = await api.client.post("/v2/enqueue", json=pd_event(key, "acknowledge", dedup_key="gpu-7-ecc"))
    assert ack.json()["results"][0]["action"] == "acknowledged"
    assert (await api.incident(result["incident_id"]))["status"] == "acknowledged"
    again = await api.client.post("/v2/enqueue", json=pd_event(key, dedup_key="gpu-7-ecc"))
    assert again.json()["results"][0] == {**result, "action": "deduplicated"}
    resolve = await api.client.post("/v2/enqueue", json=pd_event(key, "resolve", dedup_key="gpu-7-ecc"))
    assert resolve.json()["results"][0]["action"] == "resolved"
    assert (await api.incident(result["incident_id"]))["status"] == "resolved"


async def test_pagerduty_trigger_without_dedup_key_gets_one(api: Api) -> None:
    key = await api.key("ingest")
    body = (await api.client.post("/v2/enqueue", json=pd_event(key))).json()
    assert len(body["dedup_key"]) == 32
    resolve = await api.client.post("/v2/enqueue", json=pd_event(key, "resolve", dedup_key=body["dedup_key"]))
    assert resolve.json()["results"][0]["incident_id"] == body["results"][0]["incident_id"]


async def test_pagerduty_dedup_key_is_scoped_to_the_routing_key(api: Api) -> None:
    first = (await api.client.post("/v2/enqueue", json=pd_event(await api.key("ingest"), dedup_key="k"))).json()
    other = (await api.client.post("/v2/enqueue", json=pd_event(await api.key("admin"), dedup_key="k"))).json()
    # not the same alert: another fingerprint, not deduplicated (the same summary from the same source still
    # groups them into one incident)
    assert first["results"][0]["fingerprint"] != other["results"][0]["fingerprint"]
    assert other["results"][0]["action"] == "grouped"


@pytest.mark.parametrize(
    ("mutate", "status", "needle"),
    [
        (lambda e: e.pop("event_action"), 400, "event_action"),
        (lambda e: e["payload"].pop("summary"), 400, "payload.summary"),
        (lambda e: e["payload"].update(severity="bad"), 400, "payload.severity"),
        (lambda e: e.update(routing_key="0" * 32), 400, "Invalid routing key"),
        (lambda e: e.pop("routing_key"), 400, "routing_key"),
        (lambda e: e.update(event_action="resolve", payload=None), 400, "dedup_key"),
    ],
)
async def test_pagerduty_errors_keep_pagerduty_shape(api: Api, mutate: Any, status: int, needle: str) -> None:
    event = pd_event(await api.key("ingest"))
    mutate(event)
    response = await api.client.post("/v2/enqueue", json=event)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(needle in error for error in body["errors"]), body
    assert await api.store.count_logged_alerts() == 0


async def test_pagerduty_key_without_ingest_role_is_forbidden(api: Api) -> None:
    response = await api.client.post("/v2/enqueue", json=pd_event(await api.key("viewer")))
    assert response.status_code == 403


async def test_pagerduty_accepts_an_array_of_events(api: Api) -> None:
    key = await api.key("ingest")
    body = [pd_event(key, dedup_key="a"), pd_event(key, dedup_key="b"), pd_event(key, "resolve", dedup_key="a")]
    response = await api.client.post("/v2/enqueue", json=body)
    assert response.status_code == 202
    data = response.json()
    assert data["dedup_keys"] == ["a", "b", "a"]
    assert [r["action"] for r in data["results"]] == ["created", "created", "resolved"]


def cloud_event(event_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "//evals/hallucination",
        "type": "com.example.eval.alert",
        "time": "2026-03-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"title": "Hallucination rate 7% > 5%", "severity": "high", "model": "gpt-x", "env": "prod", **data},
    }


async def test_cloudevents_structured_batch_and_binary(api: Api) -> None:
    structured = await api.post(
        "/api/v1/integrations/cloudevents",
        content=msgspec.json.encode(cloud_event("e1")),
        headers={"content-type": "application/cloudevents+json"},
        role="ingest",
    )
    assert structured.status_code == 202, structured.text
    [created] = structured.json()["results"]
    assert created["action"] == "created"
    incident = await api.incident(created["incident_id"])
    assert (incident["model"], incident["severity"], incident["title"]) == (
        "gpt-x",
        "high",
        "Hallucination rate 7% > 5%",
    )
    # repeated source + id is a duplicate; a new id is a new alert, about the same problem (same source, same
    # title): correlation groups it into the same incident
    batch = [cloud_event("e1"), cloud_event("e2")]
    response = await api.post(
        "/api/v1/integrations/cloudevents",
        content=msgspec.json.encode(batch),
        headers={"content-type": "application/cloudevents-batch+json"},
        role="ingest",
    )
    assert [r["action"] for r in response.json()["results"]] == ["deduplicated", "grouped"]
    assert {r["incident_id"] for r in response.json()["results"]} == {created["incident_id"]}
    binary = await api.post(
        "/api/v1/integrations/cloudevents",
        content=b'{"title": "Token cost up 40%", "severity": "warning"}',
        headers={
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "b1",
            "ce-source": "//billing",
            "ce-type": "com.example.cost",
            "ce-time": "2026-03-01T12:00:00Z",
        },
        role="ingest",
    )
    assert binary.status_code == 202, binary.text
    [b] = binary.json()["results"]
    assert (await api.incident(b["incident_id"]))["severity"] == "medium"


async def test_cloudevents_dedupkey_extension_lets_a_later_event_resolve(api: Api) -> None:
    headers = {"content-type": "application/cloudevents-batch+json"}
    fire = {**cloud_event("x1"), "dedupkey": "halluc-gpt-x"}
    clear = {**cloud_event("x2", status="resolved"), "dedupkey": "halluc-gpt-x"}
    b64 = {**cloud_event("x3"), "dedupkey": "other"}
    del b64["data"]
    b64["data_base64"] = base64.b64encode(b'{"title": "from base64"}').decode()
    response = await api.post(
        "/api/v1/integrations/cloudevents",
        content=msgspec.json.encode([fire, clear, b64]),
        headers=headers,
        role="ingest",
    )
    assert [r["action"] for r in response.json()["results"]] == ["created", "resolved", "created"]
    assert (await api.incident(response.json()["results"][2]["incident_id"]))["title"] == "from base64"


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        (
            [{"specversion": "1.0", "id": "1", "type": "t"}],
            {"content-type": "application/cloudevents-batch+json"},
            "[0].source",
        ),
        (
            {"specversion": "0.3", "id": "1", "type": "t", "source": "s"},
            {"content-type": "application/cloudevents+json"},
            "specversion",
        ),
        (
            {"title": "x"},
            {"content-type": "application/json", "ce-specversion": "1.0", "ce-source": "s", "ce-type": "t"},
            "ce-id",
        ),
        ({"title": "x"}, {"content-type": "application/json"}, "content-type"),
        (
            [{"specversion": "1.0", "id": "1", "type": "t", "source": "s", "time": "noon"}],
            {"content-type": "application/cloudevents-batch+json"},
            "[0].time",
        ),
    ],
)
async def test_cloudevents_errors_name_the_field(api: Api, body: Any, headers: dict[str, str], field: str) -> None:
    response = await api.post(
        "/api/v1/integrations/cloudevents", content=msgspec.json.encode(body), headers=headers, role="ingest"
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field
