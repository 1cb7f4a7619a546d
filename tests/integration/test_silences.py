"""Silences over HTTP (ours and Alertmanager's API v2), and what they do: a silenced alert is recorded with the
action ``suppressed`` and pages nobody; creation and expiry are on the covered incidents' timelines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.providers import FakeWebhookReceiver
from tests.integration.conftest import Api, make_settings, running
from tests.integration.notify_helpers import FAST, eventually


@pytest.fixture
async def hook() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as fake:
        yield fake


@pytest.fixture
async def api(database_url: str, tmp_path: Path, hook: FakeWebhookReceiver) -> AsyncIterator[Api]:
    doc = {
        "route": {"receiver": "team"},
        "receivers": [{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}],
        "notifications": {"delivery": FAST},
    }
    path = tmp_path / "lim.yaml"
    path.write_text(yaml.safe_dump(doc))
    async with running(make_settings(database_url, config_path=str(path))) as api:
        yield api


def _am_alert(name: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, **labels}, "annotations": {"summary": f"{name} fired"}}


async def _pages(api: Api, incident_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/api/v1/notifications", params={"incident_id": incident_id})).json()[
        "items"
    ]
    return items


async def test_a_silenced_alert_is_recorded_and_pages_nobody(api: Api, hook: FakeWebhookReceiver) -> None:
    created = await api.post(
        "/api/v1/silences",
        {"matchers": ['alertname="GPUDown"', 'node=~"gpu-(1|2)"'], "duration": "1h", "comment": "maintenance"},
        role="responder",
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert (silence["state"], silence["created_by"]) == ("active", "key:test-responder")

    [quiet] = await api.alerts(
        [{"title": "GPUDown", "labels": {"alertname": "GPUDown", "node": "gpu-1", "service": "a"}}]
    )
    [loud] = await api.alerts(
        [{"title": "GPUDown", "labels": {"alertname": "GPUDown", "node": "gpu-3", "service": "b"}}]
    )
    assert quiet["action"] == "suppressed"
    assert quiet["incident_id"] is not None  # recorded all the same
    assert loud["action"] == "created"
    await eventually(lambda: _pages(api, loud["incident_id"]), what="the unsilenced page")
    await hook.wait_for(lambda r: len(r) >= 1)
    assert await _pages(api, quiet["incident_id"]) == []
    assert (await api.incident(quiet["incident_id"]))["alert_count"] == 1

    expired = await api.client.delete(
        f"/api/v1/silences/{silence['id']}", headers={"Authorization": f"Bearer {await api.key('responder')}"}
    )
    assert expired.status_code == 200
    assert expired.json()["state"] == "expired"
    events = (await api.get(f"/api/v1/incidents/{quiet['incident_id']}/timeline")).json()["items"]
    assert "silence_expired" in [e["kind"] for e in events]
    [again] = await api.alerts(
        [{"title": "GPUDown", "labels": {"alertname": "GPUDown", "node": "gpu-2", "service": "c"}}]
    )
    assert again["action"] == "created"


async def test_silence_creation_is_on_the_timeline_of_the_incidents_it_covers(api: Api) -> None:
    [open_one] = await api.alerts([{"title": "LatencyHigh", "labels": {"alertname": "LatencyHigh", "model": "m1"}}])
    [other] = await api.alerts([{"title": "LatencyHigh", "labels": {"alertname": "LatencyHigh", "model": "m2"}}])
    created = await api.post("/api/v1/silences", {"matchers": ["model=m1"], "duration": "30m", "comment": "deploy"})
    assert created.status_code == 201
    kinds = [
        e["kind"] for e in (await api.get(f"/api/v1/incidents/{open_one['incident_id']}/timeline")).json()["items"]
    ]
    assert "silence_created" in kinds
    others = [e["kind"] for e in (await api.get(f"/api/v1/incidents/{other['incident_id']}/timeline")).json()["items"]]
    assert "silence_created" not in others


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": [], "duration": "1h", "comment": "x"}, "matchers"),
        ({"matchers": ['foo=~""'], "duration": "1h", "comment": "x"}, "matchers"),
        ({"matchers": ['foo=~~"x"'], "duration": "1h", "comment": "x"}, "matchers[0]"),
        ({"matchers": ['foo=~"("'], "duration": "1h", "comment": "x"}, "matchers[0]"),
        (
            {"matchers": [{"name": "foo", "value": "(", "isRegex": True}], "duration": "1h", "comment": "x"},
            "matchers[0].value",
        ),
        ({"matchers": ["foo=bar"], "comment": "x"}, "ends_at"),
        ({"matchers": ["foo=bar"], "duration": "soon", "comment": "x"}, "duration"),
        ({"matchers": ["foo=bar"], "duration": "1h"}, "comment"),
    ],
)
async def test_bad_silences_are_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = await api.post("/api/v1/silences", body)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert (await api.get("/api/v1/silences")).json() == []


async def test_roles(api: Api) -> None:
    body = {"matchers": ["foo=bar"], "duration": "1h", "comment": "x"}
    assert (await api.post("/api/v1/silences", body, role="viewer")).status_code == 403
    assert (await api.post("/api/v1/silences", body, role="ingest")).status_code == 403
    assert (await api.get("/api/v1/silences", role="viewer")).status_code == 200


async def test_alertmanager_api_v2_silences_and_alerts(api: Api, hook: FakeWebhookReceiver) -> None:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "amtool", "comment": "cleanup",
    }  # fmt: skip
    created = await api.post("/api/v2/silences", body, role="responder")
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    listed = (await api.get("/api/v2/silences", params={"filter": 'alertname="DiskFull"'})).json()
    assert [(s["id"], s["status"]["state"]) for s in listed] == [(silence_id, "active")]
    assert (await api.get("/api/v2/silences", params={"filter": 'alertname="Other"'})).json() == []

    posted = await api.post(
        "/api/v2/alerts", [_am_alert("DiskFull", instance="a"), _am_alert("CPUHigh")], role="ingest"
    )
    assert posted.status_code == 200, posted.text
    incidents = (await api.get("/api/v1/incidents")).json()["items"]
    by_title = {i["title"]: i for i in incidents}
    assert set(by_title) == {"DiskFull fired", "CPUHigh fired"}
    await hook.wait_for(lambda r: len(r) >= 1)
    assert await _pages(api, by_title["DiskFull fired"]["id"]) == []
    assert len(await _pages(api, by_title["CPUHigh fired"]["id"])) == 1

    one = await api.get(f"/api/v2/silence/{silence_id}")
    assert one.json()["comment"] == "cleanup"
    gone = await api.client.delete(
        f"/api/v2/silence/{silence_id}", headers={"Authorization": f"Bearer {await api.key('responder')}"}
    )
    assert gone.status_code == 200
    assert (await api.get(f"/api/v2/silence/{silence_id}")).json()["status"]["state"] == "expired"
    status = (await api.get("/api/v2/status")).json()
    assert status["cluster"]["status"] == "ready"
    bad = await api.post("/api/v2/alerts", [{"labels": {}}], role="ingest")
    assert bad.status_code == 400
    assert "labels" in bad.text
