"""Health endpoints (open, no key): liveness and readiness (the store answers, the writer is not recovering)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State

from llm_incident_manager.api.schemas import Health
from llm_incident_manager.services import Services

__all__ = ["HealthController"]


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    security = [{}]

    @get("/live", operation_id="live", summary="The process answers", exclude_from_auth=True)
    async def live(self) -> Health:
        return Health(status="ok")

    @get("/ready", operation_id="ready", summary="The service can accept alerts", exclude_from_auth=True)
    async def ready(self, request: Request[Any, Any, State]) -> Response[Health]:
        services: Services = request.app.state.services
        try:
            await services.store.ping()
        except Exception as exc:
            return Response(
                Health(status="unavailable", store=services.store.kind, detail=str(exc)),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        if services.writer.recovering:
            return Response(
                Health(status="recovering", store=services.store.kind, detail="reloading state after a store failure"),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        return Response(Health(status="ok", store=services.store.kind), status_code=200)
