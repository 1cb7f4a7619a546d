"""Users, schedules, escalation policies and the routing tree changed through the API: stored in the database,
laid over the file, applied only when the whole configuration still builds, kept across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.fakes.providers import FakeWebhookReceiver
from tests.integration.conftest import Api, make_settings, running
from tests.integration.notify_helpers import FAST


def _file(tmp_path: Path, hook: FakeWebhookReceiver) -> Path:
    doc = {
        "route": {"receiver": "team"},
        "users": [{"name": "ana", "phone": "+15550001111"}],
        "receivers": [{"name": n, "webhook_configs": [{"url": hook.endpoint(f"/{n}")}]} for n in ("team", "gpu")],
        "notifications": {"delivery": FAST},
    }  # fmt: skip
    path = tmp_path / "lim.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def _put(api: Api, path: str, body: Any, role: str = "admin") -> Any:
    return await api.client.put(path, json=body, headers={"Authorization": f"Bearer {await api.key(role)}"})


async def _delete(api: Api, path: str) -> Any:
    return await api.client.delete(path, headers={"Authorization": f"Bearer {await api.key('admin')}"})


async def test_objects_are_checked_stored_applied_and_kept(database_url: str, tmp_path: Path) -> None:
    async with FakeWebhookReceiver() as hook:
        settings = make_settings(database_url, config_path=str(_file(tmp_path, hook)))
        async with running(settings) as api:
            assert (
                await _put(api, "/api/v1/users/dan", {"phone": "+15550004444"}, role="responder")
            ).status_code == 403
            made = await _put(api, "/api/v1/users/dan", {"phone": "+15550004444"})
            assert made.status_code == 200, made.text
            assert [u["name"] for u in (await api.get("/api/v1/users")).json()] == ["ana", "dan"]

            bad = await _put(api, "/api/v1/escalation-policies/gpu",
                             {"levels": [{"targets": [{"user": "nobody"}]}]})  # fmt: skip
            assert bad.status_code == 400
            assert "targets[0].user: no user is named 'nobody'" in bad.text
            assert (await api.get("/api/v1/escalation-policies")).json() == []

            good = await _put(api, "/api/v1/escalation-policies/gpu",
                              {"levels": [{"targets": [{"user": "dan"}], "via": ["sms"]}]})  # fmt: skip
            assert good.status_code == 200, good.text
            assert (await _delete(api, "/api/v1/users/dan")).status_code == 409  # the policy pages dan
            assert (await _delete(api, "/api/v1/users/ana")).status_code == 409  # defined in the file
            assert (await _delete(api, "/api/v1/users/zed")).status_code == 404

            wrong = await _put(api, "/api/v1/routes", {"receiver": "team", "routes": [{"matchers": ['team=~~"x"']}]})
            assert wrong.status_code == 400
            assert "route.routes[0].matchers[0]" in wrong.text
            tree = {"receiver": "team", "routes": [{"matchers": ['team="gpu"'], "receiver": "gpu"}]}
            assert (await _put(api, "/api/v1/routes", tree)).status_code == 200
            await api.alerts([{"title": "Node down", "labels": {"team": "gpu", "service": "x"}}])
            await hook.wait_for(lambda r: any(x.path == "/gpu" for x in r))

        async with running(settings) as api:  # a restart keeps what the API made
            assert [u["name"] for u in (await api.get("/api/v1/users")).json()] == ["ana", "dan"]
            assert [p["name"] for p in (await api.get("/api/v1/escalation-policies")).json()] == ["gpu"]
            assert (await api.get("/api/v1/routes")).json()["routes"][0]["receiver"] == "gpu"
            assert (await _delete(api, "/api/v1/escalation-policies/gpu")).status_code == 204
            assert (await _delete(api, "/api/v1/users/dan")).status_code == 204
            assert [u["name"] for u in (await api.get("/api/v1/users")).json()] == ["ana"]
