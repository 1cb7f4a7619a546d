"""Correlation through the HTTP API on both backends: grouping with evidence, split, and a rebuild after a restart
that decides as the live state did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.conftest import Api, make_settings, running

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)

CONFIG = """
correlation:
  window: 10m
  dependencies:
    llm-gateway: [vllm-llama]
"""


def am(name: str, at: float, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "env": "prod", **labels},
        "annotations": {"summary": f"{name} on {labels.get('service', labels.get('node', '?'))}"},
        "startsAt": (T0 + timedelta(seconds=at)).isoformat(),
        "endsAt": (T0 + timedelta(seconds=at + 60)).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
    }


async def send(api: Api, *alerts: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"version": "4", "status": "firing", "receiver": "lim", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}", "alerts": list(alerts)}  # fmt: skip
    response = await api.post("/api/v1/integrations/alertmanager", body, role="ingest")
    assert response.status_code == 202, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def timeline(api: Api, incident_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/incidents/{incident_id}/timeline")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def settings_for(database_url: str, tmp_path: Path) -> Any:
    path = tmp_path / "lim.yaml"
    path.write_text(CONFIG)
    return make_settings(database_url, config_path=str(path))


async def test_a_gpu_node_storm_is_one_incident_with_evidence_and_a_split_is_remembered(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path)
    async with running(settings) as api:
        results = await send(
            api,
            am("GPUNodeDown", 0, node="gpu-7"),
            am("HighP95Latency", 30, service="vllm-llama", model="llama3-70b", node="gpu-7", pod="p1"),
            am("HighP95Latency", 35, service="vllm-llama", model="llama3-70b", node="gpu-7", pod="p2"),
            am("Upstream5xx", 60, service="llm-gateway"),
            am("Upstream5xx", 60, service="llm-gateway", env="staging"),
        )
        assert [r["action"] for r in results] == ["created", "grouped", "grouped", "grouped", "created"]
        incident_id = results[0]["incident_id"]
        assert {r["incident_id"] for r in results[:4]} == {incident_id}
        events = [e for e in await timeline(api, incident_id) if e["kind"] == "alert_grouped"]
        assert [e["data"]["rule"] for e in events] == ["topology", "label_group", "cascade"]
        assert events[0]["data"]["matched"]["fingerprint"] == results[0]["fingerprint"]
        assert (events[0]["data"]["label"], events[0]["data"]["value"]) == ("node", "gpu-7")
        assert events[2]["data"]["upstream"] == "vllm-llama"
        assert (await api.incident(incident_id))["alert_count"] == 4

        # the gateway was a separate problem after all: split it out
        gateway = results[3]["fingerprint"]
        response = await api.post(f"/api/v1/incidents/{incident_id}/alerts/{gateway}/split", role="responder")
        assert response.status_code == 201, response.text
        body = response.json()
        new_id = body["new_incident"]["id"]
        assert body["incident"]["id"] == incident_id
        assert body["new_incident"]["service"] == "llm-gateway"
        assert body["new_incident"]["status"] == "triggered"
        kinds = [e["kind"] for e in await timeline(api, incident_id)]
        assert kinds[-1] == "alert_split"
        new_events = await timeline(api, new_id)
        assert new_events[0]["kind"] == "created"
        assert new_events[0]["data"]["split_from"] == incident_id
        old_alerts = (await api.get(f"/api/v1/incidents/{incident_id}/alerts")).json()["items"]
        assert [a["superseded_by"] for a in old_alerts if a["fingerprint"] == gateway] == [new_id]
        # 409: only alert of its incident (named here by its id, the other name the alerts list gives);
        # 404: no such alert
        [moved] = (await api.get(f"/api/v1/incidents/{new_id}/alerts")).json()["items"]
        assert moved["fingerprint"] == gateway
        assert moved["id"] > max(a["id"] for a in old_alerts)
        response = await api.post(f"/api/v1/incidents/{new_id}/alerts/{moved['id']}/split", role="responder")
        assert response.status_code == 409, response.text
        assert "only alert" in response.json()["detail"]
        response = await api.post(f"/api/v1/incidents/{new_id}/alerts/{old_alerts[0]['id']}/split", role="responder")
        assert response.status_code == 404, response.text
        response = await api.post(f"/api/v1/incidents/{incident_id}/alerts/ffff/split", role="responder")
        assert response.status_code == 404, response.text
        # a viewer may not split
        response = await api.post(f"/api/v1/incidents/{incident_id}/alerts/{gateway}/split", role="viewer")
        assert response.status_code == 403, response.text
        # its repeat goes to its own incident now
        [repeat] = await send(api, am("Upstream5xx", 90, service="llm-gateway"))
        assert (repeat["action"], repeat["incident_id"]) == ("deduplicated", new_id)
        resolved = await api.post(f"/api/v1/incidents/{new_id}/resolve", role="responder")
        assert resolved.status_code == 200, resolved.text
        keys = dict(api.keys)

    # after a restart the state is rebuilt from the store, the split included
    async with running(settings, keys=keys) as api:
        results = await send(
            api,
            am("HighP95Latency", 120, service="vllm-llama", model="llama3-70b", node="gpu-7", pod="p3"),
            am("Upstream5xx", 130, service="llm-gateway"),  # fires again: not back into the old incident
        )
        assert results[0]["action"] == "grouped"
        assert results[0]["incident_id"] == incident_id
        assert results[1]["action"] == "created"
        assert results[1]["incident_id"] not in (incident_id, new_id)


async def test_similar_reports_from_three_sources_join_one_incident(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    async with running(settings) as api:
        [prom] = await send(
            api,
            {**am("HallucinationRateHigh", 0, model="llama3-70b", service="vllm-llama"),
             "annotations": {"summary": "Hallucination rate 7.2% above 5% for llama3-70b"}},
        )  # fmt: skip
        [evaljob] = await api.alerts(
            {"title": "Hallucination rate 8.1% above 5% for llama3-70b", "source": "nightly-eval",
             "timestamp": (T0 + timedelta(minutes=3)).isoformat(), "labels": {"model": "llama3-70b", "env": "prod"}}
        )  # fmt: skip
        event = {
            "specversion": "1.0", "id": "e-1", "source": "quality-monitor", "type": "ai.quality.alert",
            "time": (T0 + timedelta(minutes=4)).isoformat(),
            "data": {"title": "Hallucination rate 7.9% above 5% for llama3-70b", "model": "llama3-70b",
                     "env": "prod"},
        }  # fmt: skip
        response = await api.post(
            "/api/v1/integrations/cloudevents",
            role="ingest",
            content=__import__("json").dumps(event),
            headers={"content-type": "application/cloudevents+json"},
        )
        assert response.status_code == 202, response.text
        [cloud] = response.json()["results"]
        assert prom["action"] == "created"
        assert (evaljob["action"], evaljob["incident_id"]) == ("grouped", prom["incident_id"])
        assert (cloud["action"], cloud["incident_id"]) == ("grouped", prom["incident_id"])
        rules = [e["data"] for e in await timeline(api, prom["incident_id"]) if e["kind"] == "alert_grouped"]
        assert [r["rule"] for r in rules] == ["similarity", "similarity"]
        assert all(r["cosine"] >= 0.85 or r["fuzzy"] >= 0.9 for r in rules)


async def test_correlation_off_by_configuration(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "off.yaml"
    path.write_text("correlation: {enabled: false}\n")
    async with running(make_settings(database_url, config_path=str(path))) as api:
        results = await send(
            api, am("HighP95Latency", 0, service="s", pod="a"), am("HighP95Latency", 5, service="s", pod="b")
        )
        assert [r["action"] for r in results] == ["created", "created"]
