"""On-call schedules, escalation policies and users, as the configuration file defines them (docs/oncall.md):
who is on call at an instant, the rendered schedule for a range, an iCalendar feed per schedule, and the on-call
load per person (pages per week, after-hours pages) from the outbox."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from llm_incident_manager.api.auth import can_act, can_admin, can_read
from llm_incident_manager.api.problems import problem_specs
from llm_incident_manager.errors import InvalidInput, NotFound
from llm_incident_manager.escalation.config import EscalationPolicyConfig
from llm_incident_manager.notify.config import UserConfig
from llm_incident_manager.oncall.schedule import OnCall, Schedule, Shift
from llm_incident_manager.services import Services

__all__ = ["ManagedConfigController", "OnCallController"]

AnyRequest = Request[Any, Any, State]
#: the longest range a rendering or a feed covers
MAX_RANGE = timedelta(days=366)


class OnCallOut(msgspec.Struct, kw_only=True):
    schedule: str
    at: datetime
    oncall: OnCall | None


class ShiftsOut(msgspec.Struct, kw_only=True):
    schedule: str
    time_zone: str
    start: datetime
    end: datetime
    shifts: list[Shift]


class LoadOut(msgspec.Struct, kw_only=True):
    user: str
    pages: int
    pages_per_week: float
    after_hours: int


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


def _schedule(services: Services, name: str) -> Schedule:
    for cfg in services.config.schedules:
        if cfg.name == name:
            return Schedule.from_config(cfg)
    raise NotFound(f"no schedule {name}")


def _aware(value: datetime | None, name: str, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise InvalidInput.field(name, "must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    return value


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    start = _aware(start, "from", now)
    end = _aware(end, "to", start + timedelta(days=14))
    if end <= start:
        raise InvalidInput.field("to", "must be after from")
    if end - start > MAX_RANGE:
        raise InvalidInput.field("to", "the range may cover at most 366 days")
    return start, end


class OnCallController(Controller):
    path = "/api/v1"
    tags = ["on-call"]

    @get("/schedules", opt=can_read, operation_id="listSchedules", summary="Schedules and who is on call now")
    async def list_schedules(self, request: AnyRequest) -> list[OnCallOut]:
        services = _services(request)
        now = datetime.now(UTC)
        return [
            OnCallOut(schedule=cfg.name, at=now, oncall=Schedule.from_config(cfg).oncall(now))
            for cfg in services.config.schedules
        ]

    @get("/schedules/{name:str}/oncall", opt=can_read, responses=problem_specs(400, 401, 403, 404),
         operation_id="getOnCall", summary="Who is on call at an instant (default now)")  # fmt: skip
    async def oncall(
        self, request: AnyRequest, name: FromPath[str], at: Annotated[datetime | None, QueryParameter()] = None
    ) -> OnCallOut:
        schedule = _schedule(_services(request), name)
        when = _aware(at, "at", datetime.now(UTC))
        return OnCallOut(schedule=name, at=when, oncall=schedule.oncall(when))

    @get("/schedules/{name:str}/shifts", opt=can_read, responses=problem_specs(400, 401, 403, 404),
         operation_id="getShifts", summary="The final schedule for a range (?from&to; default 14 days)")  # fmt: skip
    async def shifts(
        self,
        request: AnyRequest,
        name: FromPath[str],
        start: Annotated[datetime | None, QueryParameter(name="from")] = None,
        end: Annotated[datetime | None, QueryParameter(name="to")] = None,
    ) -> ShiftsOut:
        schedule = _schedule(_services(request), name)
        begin, finish = _range(start, end)
        return ShiftsOut(schedule=name, time_zone=str(schedule.time_zone), start=begin, end=finish,
                         shifts=schedule.shifts(begin, finish))  # fmt: skip

    @get("/schedules/{name:str}/ics", opt=can_read, responses=problem_specs(400, 401, 403, 404),
         operation_id="getScheduleCalendar", summary="The schedule as an iCalendar feed (?from&to)")  # fmt: skip
    async def ics(
        self,
        request: AnyRequest,
        name: FromPath[str],
        start: Annotated[datetime | None, QueryParameter(name="from")] = None,
        end: Annotated[datetime | None, QueryParameter(name="to")] = None,
    ) -> Response[bytes]:
        schedule = _schedule(_services(request), name)
        now = datetime.now(UTC)
        begin, finish = _range(start or now - timedelta(days=7), end or now + timedelta(days=90))
        body = schedule.ical(begin, finish, f"On call: {name}")
        return Response(body, media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": f'inline; filename="{name}.ics"'})  # fmt: skip

    @get("/escalation-policies", opt=can_read, operation_id="listEscalationPolicies",
         summary="Escalation policies")  # fmt: skip
    async def policies(self, request: AnyRequest) -> list[EscalationPolicyConfig]:
        return list(_services(request).config.escalation_policies)

    @get("/users", opt=can_act, operation_id="listUsers",
         summary="Users and their contact methods (responders and admins: phone numbers are personal)")  # fmt: skip
    async def users(self, request: AnyRequest) -> list[UserConfig]:
        return list(_services(request).config.users)

    @get("/oncall/load", opt=can_read, responses=problem_specs(400, 401, 403),
         operation_id="getOnCallLoad",
         summary="Pages per person over a range (default 28 days): per week and after hours (before 09:00, from "
                 "18:00, weekends, in ?time_zone, default UTC)")  # fmt: skip
    async def load(
        self,
        request: AnyRequest,
        start: Annotated[datetime | None, QueryParameter(name="from")] = None,
        end: Annotated[datetime | None, QueryParameter(name="to")] = None,
        time_zone: Annotated[str, QueryParameter()] = "UTC",
    ) -> list[LoadOut]:
        now = datetime.now(UTC)
        begin, finish = _range(start or now - timedelta(days=28), end or now)
        try:
            zone = ZoneInfo(time_zone)
        except (KeyError, ValueError):
            raise InvalidInput.field("time_zone", f"{time_zone!r} is not an IANA time zone") from None
        store = _services(request).store
        pages: Counter[str] = Counter()
        after: Counter[str] = Counter()
        cursor = None
        while True:
            found = await store.list_pages(None, None, cursor, 500)
            for page in found.items:
                if not page.receiver.startswith("user:") or not begin <= page.created_at < finish:
                    continue
                if page.state.value not in ("done", "coalesced"):
                    continue
                user = page.receiver.removeprefix("user:")
                pages[user] += 1
                local = page.created_at.astimezone(zone)
                if local.weekday() >= 5 or local.hour < 9 or local.hour >= 18:
                    after[user] += 1
            if found.next_cursor is None or (found.items and found.items[-1].created_at < begin):
                break
            cursor = found.next_cursor
        weeks = max((finish - begin).total_seconds() / (7 * 86400), 1 / 7)
        return [LoadOut(user=u, pages=n, pages_per_week=round(n / weeks, 2), after_hours=after[u])
                for u, n in sorted(pages.items())]  # fmt: skip


# -- managing the configuration's objects through the API (admin keys) -----------------------------------------
_KINDS = {"users": "users", "schedules": "schedules", "escalation-policies": "escalation_policies"}


def _kind(request: AnyRequest) -> str:
    """The section a managed-object path names: ``/api/v1/<collection>/<name>``."""
    return _KINDS[request.url.path.split("/")[3]]


class Managed(msgspec.Struct, kw_only=True):
    kind: str
    name: str
    body: dict[str, Any]


async def _put(services: Services, kind: str, name: str, body: dict[str, Any]) -> None:
    """Tries the configuration with the object in; stores it and swaps the new configuration in only if all of it
    builds. A refusal is a 400 naming the key's path; nothing changes."""
    from llm_incident_manager.configfile import ConfigError

    if kind != "route" and body.get("name", name) != name:
        raise InvalidInput.field("name", f"must be {name!r}, the name in the path")
    if kind != "route":
        body = {**body, "name": name}
    try:
        await services.effective_config(extra=[(kind, name, body)])
    except ConfigError as exc:
        raise InvalidInput(f"not applied: {exc}") from None
    await services.store.put_config_object(kind, name, body, datetime.now(UTC))
    await services.reload_config()


async def _delete(services: Services, kind: str, name: str) -> None:
    from llm_incident_manager.configfile import ConfigError
    from llm_incident_manager.errors import Conflict

    stored = {(k, n) for k, n, _, _ in await services.store.list_config_objects()}
    if (kind, name) not in stored:
        in_file = any(getattr(o, "name", None) == name for o in getattr(services.config, kind))
        if in_file:
            raise Conflict(f"{kind} {name!r} is defined in the configuration file: change it there")
        raise NotFound(f"no {kind} object {name!r}")
    try:
        await services.effective_config(without=(kind, name))
    except ConfigError as exc:
        raise Conflict(f"not deleted: {exc}") from None
    await services.store.delete_config_object(kind, name)
    await services.reload_config()


class ManagedConfigController(Controller):
    """Users, schedules, escalation policies and the routing tree, created and changed through the API: stored in
    the database, laid over the configuration file by name, and applied only when the whole configuration still
    builds (docs/routing.md#managing-the-configuration-through-the-api)."""

    path = "/api/v1"
    tags = ["configuration"]

    @put(["/users/{name:str}", "/schedules/{name:str}", "/escalation-policies/{name:str}"], opt=can_admin,
         status_code=200, responses=problem_specs(400, 401, 403),
         summary="Create or replace a user, schedule or escalation policy")  # fmt: skip
    async def put_object(self, request: AnyRequest, name: FromPath[str], data: JSONBody[dict[str, Any]]) -> Managed:
        kind = _kind(request)
        await _put(_services(request), kind, name, data)
        return Managed(kind=kind, name=name, body={**data, "name": name})

    @delete(["/users/{name:str}", "/schedules/{name:str}", "/escalation-policies/{name:str}"], opt=can_admin,
            status_code=204, responses=problem_specs(401, 403, 404, 409),
            summary="Delete a user, schedule or escalation policy made through the API")  # fmt: skip
    async def delete_object(self, request: AnyRequest, name: FromPath[str]) -> None:
        await _delete(_services(request), _kind(request), name)

    @get("/routes", opt=can_read, operation_id="getRoutes", summary="The routing tree in force")
    async def get_routes(self, request: AnyRequest) -> dict[str, Any]:
        return dict(_services(request).config.route or {})

    @put("/routes", opt=can_admin, status_code=200, responses=problem_specs(400, 401, 403),
         operation_id="putRoutes", summary="Replace the routing tree (Alertmanager's route syntax)")  # fmt: skip
    async def put_routes(self, request: AnyRequest, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        services = _services(request)
        await _put(services, "route", "root", data)
        return dict(services.config.route or {})
