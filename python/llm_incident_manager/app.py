"""The Litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from llm_incident_manager import __version__
from llm_incident_manager.api.alertmanager_v2 import AlertmanagerV2Controller
from llm_incident_manager.api.auth import AuthMiddleware
from llm_incident_manager.api.config import ConfigController
from llm_incident_manager.api.health import HealthController
from llm_incident_manager.api.incidents import IncidentController
from llm_incident_manager.api.ingest import IngestController, PagerDutyController
from llm_incident_manager.api.notifications import IntegrationController, MetricsController, NotificationController
from llm_incident_manager.api.oncall import ManagedConfigController, OnCallController
from llm_incident_manager.api.problems import exception_handlers
from llm_incident_manager.api.silences import SilenceController
from llm_incident_manager.clock import Clock
from llm_incident_manager.config import Settings
from llm_incident_manager.services import Services, freeze_started_state
from llm_incident_manager.store.protocol import Store

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, store: Store | None = None, clock: Clock | None = None) -> Litestar:
    """Builds the app. Resources (store, writer, dedup state) open in the lifespan and live on
    ``app.state.services``."""
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = await Services.start(settings, store=store, clock=clock)
        app.state.services = services
        freeze_started_state()
        try:
            yield
        finally:
            await services.stop()

    auth = DefineMiddleware(AuthMiddleware, exclude=["^/schema", "^/health/"])
    return Litestar(
        route_handlers=[
            IngestController,
            PagerDutyController,
            IncidentController,
            NotificationController,
            SilenceController,
            OnCallController,
            ManagedConfigController,
            ConfigController,
            AlertmanagerV2Controller,
            IntegrationController,
            MetricsController,
            HealthController,
        ],
        lifespan=[lifespan],
        middleware=[auth],
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="llm-incident-manager",
            version=__version__,
            description="Incident manager for LLM and ML serving. Every /api route needs "
            "'Authorization: Bearer <key>' (or 'X-API-Key'); errors are problem details (RFC 9457).",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key")}
            ),
            security=[{"bearer": []}],
            path="/schema",
        ),
        debug=False,
    )
