"""Silences (docs/routing.md#silences): ``/api/v1/silences``. The same silences as Alertmanager's API v2
(``api/alertmanager_v2.py``), in our own shape: matchers may be written in Alertmanager's syntax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from llm_incident_manager.api.auth import can_act, can_read
from llm_incident_manager.api.problems import problem_specs
from llm_incident_manager.auth.keys import Principal
from llm_incident_manager.config import parse_duration
from llm_incident_manager.domain.silences import Silence, SilenceMatcher, SilenceState
from llm_incident_manager.errors import InvalidInput, NotFound
from llm_incident_manager.routing.matchers import MatcherError, MatchType, parse_matchers
from llm_incident_manager.services import Services

__all__ = ["SilenceController", "SilenceIn", "SilenceOut", "to_silence_matchers"]

AnyRequest = Request[Any, Any, State]


class SilenceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Alertmanager's matcher syntax (``alertname="GPUDown"``, ``node=~"gpu-.*"``) or API v2 matcher objects
    matchers: list[str | SilenceMatcher]
    comment: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    #: instead of ``ends_at``: how long from ``starts_at`` (``2h``, ``30m``)
    duration: str | None = None
    #: default: the API key's actor
    created_by: str | None = None


class SilenceOut(msgspec.Struct, kw_only=True):
    id: str
    state: SilenceState
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime


def to_silence_matchers(items: list[str | SilenceMatcher], field: str = "matchers") -> list[SilenceMatcher]:
    """Matchers in Alertmanager's syntax (or already objects) as API v2 matcher objects."""
    out: list[SilenceMatcher] = []
    for i, item in enumerate(items):
        if isinstance(item, SilenceMatcher):
            out.append(item)
            continue
        try:
            parsed = parse_matchers(item)
        except MatcherError as exc:
            raise InvalidInput.field(f"{field}[{i}]", str(exc)) from None
        out.extend(
            SilenceMatcher(
                name=m.name, value=m.value, isRegex=m.type in (MatchType.RE, MatchType.NRE),
                isEqual=m.type in (MatchType.EQ, MatchType.RE),
            )
            for m in parsed
        )  # fmt: skip
    return out


def silence_out(silence: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=silence.id, state=silence.state(now), matchers=silence.matchers, starts_at=silence.starts_at,
        ends_at=silence.ends_at, created_by=silence.created_by, comment=silence.comment,
        created_at=silence.created_at, updated_at=silence.updated_at,
    )  # fmt: skip


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


class SilenceController(Controller):
    path = "/api/v1/silences"
    tags = ["silences"]

    @get("/", opt=can_read, responses=problem_specs(400, 401, 403, 503), operation_id="listSilences",
         summary="Silences, newest first")  # fmt: skip
    async def list_silences(
        self,
        request: AnyRequest,
        silence_state: Annotated[
            SilenceState | None, QueryParameter(name="state", description="active, pending or expired")
        ] = None,
    ) -> list[SilenceOut]:
        now = datetime.now(UTC)
        silences = await _services(request).store.list_silences()
        return [silence_out(s, now) for s in silences if silence_state is None or s.state(now) is silence_state]

    @post("/", opt=can_act, status_code=201, responses=problem_specs(400, 401, 403, 503),
          operation_id="createSilence", summary="Silence matching alerts: recorded, nobody paged")  # fmt: skip
    async def create(self, request: AnyRequest, data: JSONBody[SilenceIn]) -> SilenceOut:
        services = _services(request)
        principal: Principal = request.user
        now = datetime.now(UTC)
        starts = data.starts_at or now
        if starts.tzinfo is None:
            raise InvalidInput.field("starts_at", "must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
        if data.ends_at is not None and data.duration is not None:
            raise InvalidInput.field("duration", "give ends_at or duration, not both")
        if data.ends_at is not None:
            if data.ends_at.tzinfo is None:
                raise InvalidInput.field("ends_at", "must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
            ends = data.ends_at
        elif data.duration is not None:
            try:
                ends = starts + timedelta(seconds=parse_duration(data.duration))
            except ValueError as exc:
                raise InvalidInput.field("duration", str(exc)) from None
        else:
            raise InvalidInput.field("ends_at", "give ends_at or duration")
        assert services.silencer is not None  # noqa: S101 - always built by Services.start
        silence = await services.silencer.create(
            to_silence_matchers(data.matchers), starts, ends, data.created_by or principal.actor, data.comment, now
        )
        await services.silence_events(silence, "silence_created")
        return silence_out(silence, datetime.now(UTC))

    @get("/{silence_id:str}", opt=can_read, responses=problem_specs(401, 403, 404, 503),
         operation_id="getSilence", summary="One silence")  # fmt: skip
    async def get_silence(self, request: AnyRequest, silence_id: FromPath[str]) -> SilenceOut:
        silence = await _services(request).store.get_silence(silence_id)
        if silence is None:
            raise NotFound(f"no silence {silence_id}")
        return silence_out(silence, datetime.now(UTC))

    @delete("/{silence_id:str}", opt=can_act, status_code=200, responses=problem_specs(401, 403, 404, 503),
            operation_id="expireSilence", summary="Expire a silence now")  # fmt: skip
    async def expire(self, request: AnyRequest, silence_id: FromPath[str]) -> SilenceOut:
        services = _services(request)
        assert services.silencer is not None  # noqa: S101
        silence = await services.silencer.expire(silence_id, datetime.now(UTC))
        await services.silence_events(silence, "silence_expired")
        return silence_out(silence, datetime.now(UTC))
