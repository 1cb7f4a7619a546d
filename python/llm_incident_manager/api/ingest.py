"""Ingest endpoints. Each reads the raw body, decodes it with the adapter's msgspec decoder (so errors name
the field), runs the batch through the pipeline and answers 202 once it is durable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from llm_incident_manager.api.auth import can_ingest, key_from_headers
from llm_incident_manager.api.problems import DEPENDENCY_ERRORS, problem_specs
from llm_incident_manager.api.schemas import IngestResponse, PagerDutyError, PagerDutyResponse
from llm_incident_manager.auth.keys import Principal, Role
from llm_incident_manager.domain.alerts import Alert
from llm_incident_manager.errors import InvalidInput, PayloadTooLarge, Unavailable
from llm_incident_manager.ingest import alertmanager, cloudevents, generic, pagerduty
from llm_incident_manager.ingest.batch import check_batch_size
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.generic import GenericAlertIn
from llm_incident_manager.services import Services

__all__ = ["IngestController", "PagerDutyController"]

AnyRequest = Request[Any, Any, State]
_INGEST_ROLES = frozenset({Role.INGEST, Role.ADMIN})
_INGEST_PROBLEMS = problem_specs(400, 401, 403, 413, 503)


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


def _context(request: AnyRequest, services: Services, key_id: str, *, ce_headers: bool = False) -> IngestContext:
    headers = {k: v for k, v in request.headers.items() if k.startswith("ce-")} if ce_headers else {}
    return IngestContext(
        received_at=services.clock.now(),
        key_id=key_id,
        max_batch=services.settings.max_batch,
        content_type=request.headers.get("content-type", "application/json"),
        headers=headers,
    )


async def _run(
    request: AnyRequest, decode: Callable[[bytes, IngestContext], list[Alert]], *, ce_headers: bool = False
) -> IngestResponse:
    services = _services(request)
    principal: Principal = request.user
    body = await request.body()
    ctx = _context(request, services, principal.key_id, ce_headers=ce_headers)
    alerts = decode(body, ctx)
    return IngestResponse(await services.pipeline.ingest(alerts, ctx.received_at))


# OpenAPI: the handlers read the raw body and decode it with the adapter's own msgspec decoder (so errors name
# the field and no second parse happens), which leaves Litestar nothing to document. Litestar takes the request
# body schema of an operation from a `data` parameter of the handler *or of one of its dependencies*; these
# dependencies declare one. No handler asks for them by name, so Litestar never calls them.
async def _generic_body(data: JSONBody[GenericAlertIn | list[GenericAlertIn]]) -> None:
    """Documents the generic format's body."""


async def _alertmanager_body(data: JSONBody[alertmanager.AlertmanagerWebhook]) -> None:
    """Documents Alertmanager's webhook body."""


async def _pagerduty_body(data: JSONBody[pagerduty.PagerDutyEvent | list[pagerduty.PagerDutyEvent]]) -> None:
    """Documents the PagerDuty Events v2 body."""


async def _cloudevents_body(data: JSONBody[dict[str, Any] | list[dict[str, Any]]]) -> None:
    """Documents a CloudEvent (structured mode) or an array of them (batch mode)."""


class IngestController(Controller):
    path = "/api/v1"
    tags = ["ingest"]
    opt = can_ingest

    @post(
        "/alerts",
        status_code=202,
        operation_id="ingestAlerts",
        summary="Ingest alerts (generic JSON)",
        description="One alert object or an array of them. Answers once the batch is durable, with one result "
        "per alert in request order.",
        dependencies={"generic_body": Provide(_generic_body)},
        responses=_INGEST_PROBLEMS,
    )
    async def generic(self, request: AnyRequest) -> IngestResponse:
        return await _run(request, generic.decode)

    @post(
        "/integrations/alertmanager",
        status_code=202,
        operation_id="ingestAlertmanagerWebhook",
        summary="Alertmanager webhook receiver (payload version 4)",
        dependencies={"alertmanager_body": Provide(_alertmanager_body)},
        responses=_INGEST_PROBLEMS,
    )
    async def alertmanager(self, request: AnyRequest) -> IngestResponse:
        services = _services(request)
        principal: Principal = request.user
        body = await request.body()
        ctx = _context(request, services, principal.key_id)
        items, resolved = alertmanager.decode_wire(body, ctx)
        convert = alertmanager.converter(items, ctx)
        return IngestResponse(await services.pipeline.ingest_wire(items, resolved, convert, body, ctx.received_at))

    @post(
        "/integrations/cloudevents",
        status_code=202,
        operation_id="ingestCloudEvents",
        summary="CloudEvents 1.0: structured, batch or binary mode",
        dependencies={"cloudevents_body": Provide(_cloudevents_body)},
        responses=_INGEST_PROBLEMS,
    )
    async def cloudevents(self, request: AnyRequest) -> IngestResponse:
        return await _run(request, cloudevents.decode, ce_headers=True)


def _pd_error(status: int, message: str, errors: list[str], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        PagerDutyError(status="invalid event" if status == 400 else "error", message=message, errors=errors),
        status_code=status,
        headers=headers,
    )


class PagerDutyController(Controller):
    path = "/v2"
    tags = ["ingest"]

    @post(
        "/enqueue",
        status_code=202,
        operation_id="pagerDutyEnqueue",
        summary="PagerDuty Events API v2 (trigger, acknowledge, resolve)",
        description="The routing_key is an API key of this service that may ingest. An array of events is "
        "accepted too (our extension).",
        exclude_from_auth=True,
        dependencies={"pagerduty_body": Provide(_pagerduty_body)},
        security=[{}],
        responses={
            code: ResponseSpec(data_container=PagerDutyError, description=why, generate_examples=False)
            for code, why in (
                (400, "Invalid event or routing key (PagerDuty's shape: status, message, errors[])."),
                (403, "The routing key's role may not ingest."),
                (413, "The body or the batch is too large."),
                (503, "The store failed; nothing was changed. Retry after `Retry-After` seconds."),
            )
        },
    )
    async def enqueue(self, request: AnyRequest) -> Response[Any]:
        services = _services(request)
        try:
            body = await request.body()
            events, single = pagerduty.decode_events(body)
            check_batch_size(events, services.settings.max_batch)
            header_key = key_from_headers(request)
            resolved: dict[str, Principal | None] = {}
            key_ids: list[str] = []
            for i, event in enumerate(events):
                key = event.routing_key or header_key
                where = "routing_key" if single else f"[{i}].routing_key"
                if not key:
                    return _pd_error(400, "Event object is invalid", [f"{where}: is required"])
                if key not in resolved:
                    resolved[key] = await services.keys.resolve(key)
                principal = resolved[key]
                if principal is None:
                    return _pd_error(400, "Event object is invalid", [f"{where}: Invalid routing key"])
                if principal.role not in _INGEST_ROLES:
                    return _pd_error(403, "Forbidden", [f"{where}: the key's role may not ingest"])
                key_ids.append(principal.key_id)
            ctx = _context(request, services, key_ids[0])
            alerts = pagerduty.to_alerts(events, key_ids, ctx, single=single)
            results = await services.pipeline.ingest(alerts, ctx.received_at)
        except InvalidInput as exc:
            return _pd_error(400, "Event object is invalid", [e.field + ": " + e.message for e in exc.errors])
        except PayloadTooLarge as exc:
            return _pd_error(413, "Request too large", [exc.detail])
        except Unavailable as exc:
            return _pd_error(503, "Service unavailable", [exc.detail], {"Retry-After": str(exc.retry_after)})
        except HTTPException as exc:
            if exc.status_code == 413:
                return _pd_error(413, "Request too large", ["the request body is larger than the service accepts"])
            raise
        except DEPENDENCY_ERRORS as exc:
            return _pd_error(503, "Service unavailable", [f"the store did not answer: {exc!r}"], {"Retry-After": "1"})
        keys = [alert.dedup_key or "" for alert in alerts]
        response = PagerDutyResponse(
            status="success",
            message="Event processed",
            results=results,
            dedup_key=keys[0] if single else None,
            dedup_keys=None if single else keys,
        )
        return Response(response, status_code=202)
