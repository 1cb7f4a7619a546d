"""Incidents: list, read, their alerts and timeline, and the responder actions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from llm_incident_manager.api.auth import can_act, can_read
from llm_incident_manager.api.problems import problem_specs
from llm_incident_manager.api.schemas import NoteIn, NoteOut, SplitOut
from llm_incident_manager.auth.keys import Principal
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentAlert, IncidentStatus, TimelineEvent
from llm_incident_manager.errors import InvalidInput, NotFound
from llm_incident_manager.services import Services
from llm_incident_manager.store.protocol import MAX_PAGE, IncidentQuery, Page

__all__ = ["IncidentController"]

AnyRequest = Request[Any, Any, State]
_READ_PROBLEMS = problem_specs(400, 401, 403, 404, 503)
_ACT_PROBLEMS = problem_specs(400, 401, 403, 404, 409, 503)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


class IncidentController(Controller):
    path = "/api/v1/incidents"
    tags = ["incidents"]

    @get(
        "/",
        opt=can_read,
        responses=_READ_PROBLEMS,
        operation_id="listIncidents",
        summary="List incidents, newest first",
    )
    async def list_incidents(
        self,
        request: AnyRequest,
        status: Annotated[list[IncidentStatus] | None, QueryParameter(description="repeat to match any")] = None,
        severity: Annotated[list[Severity] | None, QueryParameter(description="repeat to match any")] = None,
        service: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
        env: FromQuery[str | None] = None,
        since: Annotated[datetime | None, QueryParameter(description="created at or after (RFC 3339)")] = None,
        until: Annotated[datetime | None, QueryParameter(description="created before (RFC 3339)")] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[Incident]:
        if cursor is not None and not _UUID.match(cursor):
            raise InvalidInput.field("cursor", "is not a cursor this list returned")
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput.field(name, "must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
        query = IncidentQuery(
            status=status or [], severity=severity or [], service=service, model=model, env=env, since=since,
            until=until, cursor=cursor, limit=limit,
        )  # fmt: skip
        return await _services(request).reader.list_incidents(query)

    @get(
        "/{incident_id:str}",
        opt=can_read,
        responses=_READ_PROBLEMS,
        operation_id="getIncident",
        summary="One incident",
    )
    async def get_incident(self, request: AnyRequest, incident_id: FromPath[str]) -> Incident:
        incident = await _services(request).reader.get_incident(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        return incident

    @get(
        "/{incident_id:str}/alerts",
        opt=can_read,
        responses=_READ_PROBLEMS,
        operation_id="listIncidentAlerts",
        summary="The distinct alerts of an incident, with counts",
    )
    async def alerts(
        self, request: AnyRequest, incident_id: FromPath[str], cursor: FromQuery[str | None] = None, limit: Limit = 100
    ) -> Page[IncidentAlert]:
        services = _services(request)
        if await services.reader.get_incident(incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        return await services.reader.list_alerts(incident_id, _int_cursor(cursor), limit)

    @get(
        "/{incident_id:str}/timeline",
        opt=can_read,
        responses=_READ_PROBLEMS,
        operation_id="getIncidentTimeline",
        summary="The incident's append-only event log, oldest first",
    )
    async def timeline(
        self, request: AnyRequest, incident_id: FromPath[str], cursor: FromQuery[str | None] = None, limit: Limit = 100
    ) -> Page[TimelineEvent]:
        services = _services(request)
        if (await services.store.get_incident(incident_id))[0] is None:
            raise NotFound(f"no incident {incident_id}")
        return await services.store.list_timeline(incident_id, _int_cursor(cursor), limit)

    @post(
        "/{incident_id:str}/acknowledge",
        opt=can_act,
        responses=_ACT_PROBLEMS,
        status_code=200,
        operation_id="acknowledgeIncident",
        summary="Acknowledge (idempotent; 409 when resolved)",
    )
    async def acknowledge(
        self, request: AnyRequest, incident_id: FromPath[str], data: JSONBody[dict[str, Any] | None] = None
    ) -> Incident:
        services = _services(request)
        principal: Principal = request.user
        return await services.responder.acknowledge(incident_id, principal.actor, services.clock.now())

    @post(
        "/{incident_id:str}/resolve",
        opt=can_act,
        responses=_ACT_PROBLEMS,
        status_code=200,
        operation_id="resolveIncident",
        summary="Resolve (idempotent)",
    )
    async def resolve(
        self, request: AnyRequest, incident_id: FromPath[str], data: JSONBody[dict[str, Any] | None] = None
    ) -> Incident:
        services = _services(request)
        principal: Principal = request.user
        return await services.responder.resolve(incident_id, principal.actor, services.clock.now())

    @post(
        "/{incident_id:str}/alerts/{alert_id:str}/split",
        opt=can_act,
        responses=_ACT_PROBLEMS,
        status_code=201,
        operation_id="splitIncidentAlert",
        summary="Move a firing alert (by fingerprint or id) out of the incident into a new incident; never re-merged",
    )
    async def split(
        self,
        request: AnyRequest,
        incident_id: FromPath[str],
        alert_id: FromPath[str],
        data: JSONBody[dict[str, Any] | None] = None,
    ) -> SplitOut:
        services = _services(request)
        principal: Principal = request.user
        old, new = await services.responder.split(incident_id, alert_id, principal.actor, services.clock.now())
        return SplitOut(incident=old, new_incident=new)

    @post(
        "/{incident_id:str}/notes",
        opt=can_act,
        responses=_ACT_PROBLEMS,
        status_code=201,
        operation_id="addIncidentNote",
        summary="Add a note to the timeline",
    )
    async def note(self, request: AnyRequest, incident_id: FromPath[str], data: JSONBody[NoteIn]) -> NoteOut:
        if not data.text.strip():
            raise InvalidInput.field("text", "must not be empty")
        services = _services(request)
        principal: Principal = request.user
        await services.responder.note(incident_id, principal.actor, data.text, services.clock.now())
        return NoteOut(incident_id=incident_id, actor=principal.actor, text=data.text)


def _int_cursor(cursor: str | None) -> str | None:
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput.field("cursor", "is not a cursor this list returned")
    return cursor
