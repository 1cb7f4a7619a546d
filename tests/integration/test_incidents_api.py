"""Incidents API on both backends: lists, filters, pagination, actions, timeline."""

from __future__ import annotations

import string
from typing import Any

import pytest

from tests.integration.conftest import Api


async def seed(api: Api) -> list[dict[str, Any]]:
    body = [
        {"title": "latency", "severity": "critical", "service": "chat", "labels": {"model": "llama", "env": "prod"}},
        {"title": "cost", "severity": "low", "service": "billing", "labels": {"model": "gpt", "env": "prod"}},
        {"title": "quality", "severity": "high", "service": "chat", "labels": {"model": "gpt", "env": "staging"}},
        {"title": "oom", "severity": "medium", "service": "chat", "labels": {"model": "llama", "env": "staging"}},
    ]
    return await api.alerts(body)


async def ids(api: Api, query: str) -> list[str]:
    response = await api.get(f"/api/v1/incidents{query}", role="viewer")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_is_newest_first_and_filters(api: Api) -> None:
    results = await seed(api)
    all_ids = [r["incident_id"] for r in results]
    assert await ids(api, "") == all_ids[::-1]
    assert await ids(api, "?service=chat") == [all_ids[3], all_ids[2], all_ids[0]]
    assert await ids(api, "?model=gpt&env=prod") == [all_ids[1]]
    assert await ids(api, "?severity=critical&severity=high") == [all_ids[2], all_ids[0]]
    await api.post(f"/api/v1/incidents/{all_ids[0]}/resolve")
    assert await ids(api, "?status=resolved") == [all_ids[0]]
    assert await ids(api, "?status=triggered&status=acknowledged") == all_ids[:0:-1]
    assert await ids(api, "?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z") == all_ids[::-1]
    assert await ids(api, "?until=2000-01-01T00:00:00Z") == []


async def test_cursor_pagination_walks_every_incident_once(api: Api) -> None:
    # distinct words: titles that differ only in a number would be one incident (correlation)
    created = await api.alerts([{"title": f"alert {string.ascii_letters[i]}"} for i in range(23)])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = (await api.get(f"/api/v1/incidents{query}")).json()
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == [r["incident_id"] for r in created][::-1]


@pytest.mark.parametrize("query", ["?limit=501", "?limit=0", "?status=open", "?severity=P9", "?since=yesterday"])
async def test_bad_query_is_400_naming_the_parameter(api: Api, query: str) -> None:
    response = await api.get(f"/api/v1/incidents{query}")
    assert response.status_code == 400, response.text
    name = query[1:].split("=", maxsplit=1)[0]
    assert response.json()["errors"][0]["field"] == name


async def test_limit_500_is_accepted(api: Api) -> None:
    assert (await api.get("/api/v1/incidents?limit=500")).status_code == 200


async def test_acknowledge_resolve_and_notes_are_on_the_timeline(api: Api) -> None:
    [created] = await api.alerts({"title": "GPU node down", "severity": "critical"})
    incident_id = created["incident_id"]
    ack = await api.post(f"/api/v1/incidents/{incident_id}/acknowledge", role="responder")
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "key:test-responder"
    again = await api.post(f"/api/v1/incidents/{incident_id}/acknowledge", {}, role="responder")
    assert again.status_code == 200
    note = await api.post(f"/api/v1/incidents/{incident_id}/notes", {"text": "draining node"}, role="responder")
    assert note.status_code == 201
    # an acknowledged incident still deduplicates
    [repeat] = await api.alerts({"title": "GPU node down", "severity": "critical"})
    assert repeat == {**created, "action": "deduplicated"}
    resolved = await api.post(f"/api/v1/incidents/{incident_id}/resolve", role="responder")
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by"] == "key:test-responder"
    assert (await api.post(f"/api/v1/incidents/{incident_id}/acknowledge", role="responder")).status_code == 409
    assert (await api.post(f"/api/v1/incidents/{incident_id}/resolve", role="responder")).status_code == 200
    timeline = (await api.get(f"/api/v1/incidents/{incident_id}/timeline", role="viewer")).json()["items"]
    assert [(e["kind"], e["actor"]) for e in timeline] == [
        ("created", "generic:generic"),
        ("acknowledged", "key:test-responder"),
        ("note", "key:test-responder"),
        ("resolved", "key:test-responder"),
    ]
    assert timeline[2]["data"] == {"text": "draining node"}
    # after a manual resolve the same alert opens a new incident
    [new] = await api.alerts({"title": "GPU node down", "severity": "critical"})
    assert new["action"] == "created"
    assert new["incident_id"] != incident_id


async def test_timeline_and_alerts_paginate(api: Api) -> None:
    [created] = await api.alerts({"title": "x"})
    incident_id = created["incident_id"]
    for i in range(7):
        await api.post(f"/api/v1/incidents/{incident_id}/notes", {"text": f"n{i}"})
    first = (await api.get(f"/api/v1/incidents/{incident_id}/timeline?limit=5")).json()
    second = (await api.get(f"/api/v1/incidents/{incident_id}/timeline?limit=5&cursor={first['next_cursor']}")).json()
    kinds = [e["kind"] for e in first["items"] + second["items"]]
    assert kinds == ["created"] + ["note"] * 7
    assert second["next_cursor"] is None


async def test_unknown_incident_is_404_problem(api: Api) -> None:
    for path in ("", "/alerts", "/timeline"):
        response = await api.get(f"/api/v1/incidents/01000000-0000-7000-8000-000000000000{path}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    for action in ("acknowledge", "resolve"):
        response = await api.post(f"/api/v1/incidents/01000000-0000-7000-8000-000000000000/{action}")
        assert response.status_code == 404
    response = await api.post("/api/v1/incidents/01000000-0000-7000-8000-000000000000/notes", {"text": "x"})
    assert response.status_code == 404


async def test_note_requires_text(api: Api) -> None:
    [created] = await api.alerts({"title": "x"})
    for body in ({}, {"text": ""}, {"text": 3}):
        response = await api.post(f"/api/v1/incidents/{created['incident_id']}/notes", body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == "text" or "text" in response.json()["detail"]
