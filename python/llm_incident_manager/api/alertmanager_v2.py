"""Alertmanager's API v2, for the clients that already speak it (docs/routing.md#alertmanager-api-v2):

* ``POST /api/v2/alerts``: Prometheus can name this service as its Alertmanager (``alerting.alertmanagers`` with
  ``authorization`` carrying an ingest key), and ``amtool alert add`` works;
* ``GET/POST /api/v2/silences``, ``GET/DELETE /api/v2/silence/{id}``: ``amtool silence add|query|expire``;
* ``GET /api/v2/status``: what amtool and dashboards read first.

Bodies are Alertmanager's; authentication is ours (an API key as a bearer token: amtool passes it with
``--http.config.file``). Our own silence API (``/api/v1/silences``) serves the same silences.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from llm_incident_manager import __version__
from llm_incident_manager.api.auth import can_act, can_ingest, can_read
from llm_incident_manager.auth.keys import Principal
from llm_incident_manager.domain.alerts import Alert
from llm_incident_manager.domain.silences import Silence, SilenceMatcher
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.alertmanager import AlertmanagerAlert, to_alert
from llm_incident_manager.ingest.batch import check_batch_size, decode_json
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import utc
from llm_incident_manager.routing.matchers import MatcherError, parse_matchers
from llm_incident_manager.services import Services

__all__ = ["AlertmanagerV2Controller"]

AnyRequest = Request[Any, Any, State]
_STARTED = datetime.now(UTC)


class PostableAlert(msgspec.Struct, rename="camel"):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = msgspec.field(default="", name="generatorURL")


class PostableSilence(msgspec.Struct, rename="camel"):
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    id: str | None = None


class SilenceStatus(msgspec.Struct):
    state: str


class GettableSilence(msgspec.Struct, rename="camel"):
    id: str
    status: SilenceStatus
    updated_at: datetime
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


class SilenceCreated(msgspec.Struct, rename="camel"):
    silence_id: str = msgspec.field(name="silenceID")


_alerts = msgspec.json.Decoder(list[PostableAlert])
_silence = msgspec.json.Decoder(PostableSilence)


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


def _gettable(silence: Silence, now: datetime) -> GettableSilence:
    return GettableSilence(
        id=silence.id, status=SilenceStatus(silence.state(now).value), updated_at=silence.updated_at,
        matchers=silence.matchers, starts_at=silence.starts_at, ends_at=silence.ends_at,
        created_by=silence.created_by, comment=silence.comment,
    )  # fmt: skip


def _resolved(item: PostableAlert, received_at: datetime) -> bool:
    """Alertmanager's rule: an alert whose ``endsAt`` has passed is resolved (a time without a zone is UTC)."""
    ends = utc(item.ends_at)
    return ends is not None and ends <= received_at


def _postable_to_alert(item: PostableAlert, index: str, ctx: IngestContext) -> Alert:
    resolved = _resolved(item, ctx.received_at)
    wire = AlertmanagerAlert(
        labels=item.labels, status="resolved" if resolved else "firing", annotations=item.annotations,
        starts_at=item.starts_at, ends_at=item.ends_at, generator_url=item.generator_url,
    )  # fmt: skip
    return to_alert(wire, index, ctx, "alertmanager-api")


class AlertmanagerV2Controller(Controller):
    path = "/api/v2"
    tags = ["alertmanager-v2"]

    @post("/alerts", opt=can_ingest, status_code=200, operation_id="amPostAlerts",
          summary="Alertmanager API v2: post alerts (Prometheus, amtool alert add)")  # fmt: skip
    async def post_alerts(self, request: AnyRequest) -> Response[bytes]:
        services = _services(request)
        principal: Principal = request.user
        body = await request.body()
        ctx = IngestContext(
            received_at=services.clock.now(), key_id=principal.key_id, max_batch=services.settings.max_batch,
            content_type=request.headers.get("content-type", "application/json"), headers={},
        )  # fmt: skip
        items = decode_json(_alerts, body)
        check_batch_size(items, ctx.max_batch)
        received = ctx.received_at
        resolved = []
        for i, item in enumerate(items):
            if not item.labels:
                raise InvalidInput.field(f"[{i}].labels", "must not be empty: labels identify an Alertmanager alert")
            resolved.append(_resolved(item, received))

        def convert(index: int) -> Alert:
            return _postable_to_alert(items[index], f"[{index}].", ctx)

        await services.pipeline.ingest_wire(items, resolved, convert, body, received)
        return Response(b"", status_code=200, media_type="application/json")  # Alertmanager answers an empty 200

    @get("/silences", opt=can_read, operation_id="amGetSilences",
         summary="Alertmanager API v2: silences, filtered by matchers (amtool silence query)")  # fmt: skip
    async def get_silences(
        self,
        request: AnyRequest,
        silence_filter: Annotated[list[str] | None, QueryParameter(name="filter")] = None,
    ) -> list[GettableSilence]:
        try:
            wanted = [m for text in silence_filter or [] for m in parse_matchers(text)]
        except MatcherError as exc:
            raise InvalidInput.field("filter", str(exc)) from None
        now = datetime.now(UTC)
        found = []
        for silence in await _services(request).store.list_silences():
            labels = {m.name: m.value for m in silence.matchers}
            if all(m.matches(labels) for m in wanted):
                found.append(_gettable(silence, now))
        return found

    @post("/silences", opt=can_act, status_code=200, operation_id="amPostSilences",
          summary="Alertmanager API v2: create a silence (or replace the one named by id)")  # fmt: skip
    async def post_silence(self, request: AnyRequest) -> SilenceCreated:
        services = _services(request)
        body = decode_json(_silence, await request.body())
        assert services.silencer is not None  # noqa: S101 - always built by Services.start
        silence = await services.silencer.create(
            body.matchers, body.starts_at, body.ends_at, body.created_by, body.comment, datetime.now(UTC),
            replaces=body.id or None,
        )  # fmt: skip
        await services.silence_events(silence, "silence_created")
        return SilenceCreated(silence.id)

    @get("/silence/{silence_id:str}", opt=can_read, operation_id="amGetSilence",
         summary="Alertmanager API v2: one silence")  # fmt: skip
    async def get_silence(self, request: AnyRequest, silence_id: FromPath[str]) -> GettableSilence:
        from llm_incident_manager.errors import NotFound

        silence = await _services(request).store.get_silence(silence_id)
        if silence is None:
            raise NotFound(f"no silence {silence_id}")
        return _gettable(silence, datetime.now(UTC))

    @delete("/silence/{silence_id:str}", opt=can_act, status_code=200, operation_id="amDeleteSilence",
            summary="Alertmanager API v2: expire a silence")  # fmt: skip
    async def delete_silence(self, request: AnyRequest, silence_id: FromPath[str]) -> None:
        services = _services(request)
        assert services.silencer is not None  # noqa: S101
        silence = await services.silencer.expire(silence_id, datetime.now(UTC))
        await services.silence_events(silence, "silence_expired")

    @get("/status", opt=can_read, operation_id="amGetStatus", summary="Alertmanager API v2: status")
    async def status(self, request: AnyRequest) -> dict[str, Any]:
        # Alertmanager shows its configuration here with secrets masked; ours carries tokens and passwords, and a
        # viewer key must not read them: the field is present and empty
        original = ""
        return {
            "cluster": {"name": "llm-incident-manager", "status": "ready", "peers": []},
            "versionInfo": {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "config": {"original": original},
            "uptime": _STARTED.isoformat().replace("+00:00", "Z"),
        }
