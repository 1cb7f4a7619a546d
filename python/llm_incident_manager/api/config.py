"""Reloading the configuration file without a restart (docs/routing.md#reload): ``POST /api/v1/config/reload``,
and Alertmanager's ``POST /-/reload`` for the tools that call it. Admin keys only."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State

from llm_incident_manager.api.auth import can_admin
from llm_incident_manager.api.problems import problem_specs
from llm_incident_manager.configfile import ConfigError
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.services import Services

__all__ = ["ConfigController", "ReloadOut"]

AnyRequest = Request[Any, Any, State]


class ReloadOut(msgspec.Struct, kw_only=True):
    status: str
    path: str | None
    receivers: list[str]
    escalation_policies: list[str]
    schedules: list[str]


async def _reload(request: AnyRequest) -> ReloadOut:
    services: Services = request.app.state.services
    try:
        config = await services.reload_config()
    except ConfigError as exc:
        # the running configuration stays; the answer says why the new one was refused
        raise InvalidInput(f"the configuration was not reloaded: {exc}") from None
    return ReloadOut(
        status="reloaded",
        path=services.settings.config_path,
        receivers=[r.name for r in config.receivers],
        escalation_policies=[p.name for p in config.escalation_policies],
        schedules=[s.name for s in config.schedules],
    )


class ConfigController(Controller):
    path = "/"
    tags = ["config"]

    @post("/api/v1/config/reload", opt=can_admin, status_code=200, responses=problem_specs(400, 401, 403),
          operation_id="reloadConfig", summary="Read LIM_CONFIG again; swap it in if all of it builds")  # fmt: skip
    async def reload(self, request: AnyRequest) -> ReloadOut:
        return await _reload(request)

    @post("/-/reload", opt=can_admin, status_code=200, responses=problem_specs(400, 401, 403),
          operation_id="reloadConfigAlertmanager", summary="Alertmanager's reload endpoint (the same)")  # fmt: skip
    async def am_reload(self, request: AnyRequest) -> ReloadOut:
        return await _reload(request)
