"""Keys and roles: 401 without a valid key, 403 for a role that may not, /health and /schema open."""

from __future__ import annotations

import base64

import pytest

from llm_incident_manager.api.auth import ROLES
from llm_incident_manager.clock import SystemClock
from tests.integration.conftest import Api

INCIDENT = "01000000-0000-7000-8000-000000000000"

# (method, path, body) of each guarded route, with the roles that may call it
ROUTES = [
    ("POST", "/api/v1/alerts", {"title": "x"}, {"ingest", "admin"}),
    ("POST", "/api/v1/integrations/alertmanager", {"alerts": [{"labels": {"a": "b"}}]}, {"ingest", "admin"}),
    ("GET", "/api/v1/incidents", None, {"viewer", "responder", "admin"}),
    ("GET", f"/api/v1/incidents/{INCIDENT}", None, {"viewer", "responder", "admin"}),
    ("POST", f"/api/v1/incidents/{INCIDENT}/acknowledge", None, {"responder", "admin"}),
    ("POST", f"/api/v1/incidents/{INCIDENT}/notes", {"text": "x"}, {"responder", "admin"}),
    ("POST", "/api/v2/alerts", [{"labels": {"a": "b"}}], {"ingest", "admin"}),
    ("GET", "/api/v2/status", None, {"viewer", "responder", "admin"}),
    ("POST", "/-/reload", None, {"admin"}),
]


async def test_every_authenticated_route_names_its_roles(api: Api) -> None:
    """The roles are checked by the authentication middleware from the route's ``opt``: a route that went through
    authentication without naming them would be open to every key."""
    checked = 0
    for route in api.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "OPTIONS" in handler.http_methods or route.path.startswith(("/schema", "/health/")):
                continue
            if handler.opt.get("exclude_from_auth"):
                continue
            assert handler.opt.get(ROLES) is not None, route.path
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
async def test_roles(api: Api, method: str, path: str, body: object, allowed: set[str]) -> None:
    for role in ("ingest", "viewer", "responder", "admin"):
        headers = {"Authorization": f"Bearer {await api.key(role)}"}
        response = await api.client.request(method, path, json=body, headers=headers)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer " + "0" * 32}, {"Authorization": "Basic abc"}, {"X-API-Key": "short"}],
)
async def test_missing_or_unknown_key_is_401(api: Api, headers: dict[str, str]) -> None:
    for method, path, body, _ in ROUTES:
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["status"] == 401


async def test_x_api_key_header_works(api: Api) -> None:
    response = await api.client.get("/api/v1/incidents", headers={"X-API-Key": await api.key("viewer")})
    assert response.status_code == 200


async def test_basic_auth_with_the_key_as_password_or_user_works(api: Api) -> None:
    key = await api.key("viewer")
    for credentials in (f"alertmanager:{key}", f"{key}:"):
        token = base64.b64encode(credentials.encode()).decode()
        response = await api.client.get("/api/v1/incidents", headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 200, credentials
    wrong = base64.b64encode(b"alertmanager:" + b"0" * 32).decode()
    response = await api.client.get("/api/v1/incidents", headers={"Authorization": f"Basic {wrong}"})
    assert response.status_code == 401


async def test_revoked_key_stops_working(database_url: str) -> None:
    from tests.integration.conftest import make_settings, running

    async with running(make_settings(database_url, key_cache_seconds=0.0)) as api:
        key = await api.key("viewer")
        assert (await api.client.get("/api/v1/incidents", headers={"X-API-Key": key})).status_code == 200
        [record] = [k for k in await api.store.list_keys() if k.name == "test-viewer"]
        assert key not in record.key_hash  # only the hash is stored
        assert await api.store.revoke_key(record.id, SystemClock().now())
        assert (await api.client.get("/api/v1/incidents", headers={"X-API-Key": key})).status_code == 401


async def test_health_and_schema_are_open(api: Api) -> None:
    assert (await api.client.get("/health/live")).json() == {"status": "ok"}
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 200
    schema = await api.client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/alerts", "/v2/enqueue", "/api/v1/incidents", "/api/v1/integrations/cloudevents"} <= set(paths)
    body = paths["/api/v1/integrations/alertmanager"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AlertmanagerWebhook"}
    problem = paths["/api/v1/alerts"]["post"]["responses"]["400"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    # open routes say so; guarded ones inherit the bearer requirement
    assert paths["/v2/enqueue"]["post"]["security"] == [{}]
    assert paths["/health/ready"]["get"]["security"] == [{}]
    assert "security" not in paths["/api/v1/incidents"]["get"]
