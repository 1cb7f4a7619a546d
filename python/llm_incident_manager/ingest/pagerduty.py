"""PagerDuty Events API v2: ``POST /v2/enqueue`` (and ``/v2/enqueue`` batches, our extension).

``routing_key`` is an API key of ours that may ingest; ``dedup_key`` is scoped to that key, as PagerDuty
scopes it to the integration. A trigger without ``dedup_key`` gets a new one, returned in the answer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.batch import check_batch_size, decode_json
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import as_fields, dimensions, utc

__all__ = ["PagerDutyEvent", "decode_events", "to_alerts"]

#: PagerDuty's four severities onto ours (docs/severity.md).
PD_SEVERITY: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}


class PagerDutyPayload(msgspec.Struct, gc=False, kw_only=True):
    summary: str | None = None
    source: str | None = None
    severity: str | None = None
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = msgspec.field(default=None, name="class")
    custom_details: Any = None


class PagerDutyLink(msgspec.Struct, gc=False):
    href: str = ""
    text: str = ""


class PagerDutyEvent(msgspec.Struct, gc=False, kw_only=True):
    routing_key: str | None = None
    event_action: Literal["trigger", "acknowledge", "resolve"] | None = None
    dedup_key: str | None = None
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[PagerDutyLink] = []
    images: list[Any] = []


_decoder = msgspec.json.Decoder(PagerDutyEvent | list[PagerDutyEvent])

#: PagerDuty limits a summary to 1024 characters and a dedup key to 255.
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


def decode_events(body: bytes) -> tuple[list[PagerDutyEvent], bool]:
    """The events of a request and whether it was a single object. Raises InvalidInput naming the field."""
    decoded = decode_json(_decoder, body)
    if isinstance(decoded, PagerDutyEvent):
        return [decoded], True
    return decoded, False


def _details(custom: Any) -> dict[str, str]:
    if not isinstance(custom, dict):
        return {} if custom is None else {"details": msgspec.json.encode(custom).decode()}
    return {str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in custom.items()}


def _convert(event: PagerDutyEvent, index: str, ctx: IngestContext, key_id: str) -> Alert:
    action = event.event_action
    if action is None:
        raise InvalidInput.field(f"{index}event_action", "is required: trigger, acknowledge or resolve")
    dedup_key = event.dedup_key
    if dedup_key is not None and len(dedup_key) > MAX_DEDUP_KEY:
        raise InvalidInput.field(f"{index}dedup_key", f"must be at most {MAX_DEDUP_KEY} characters")
    payload = event.payload
    if action == "trigger":
        if payload is None:
            raise InvalidInput.field(f"{index}payload", "is required for a trigger")
        for name in ("summary", "source", "severity"):
            if not getattr(payload, name):
                raise InvalidInput.field(f"{index}payload.{name}", "is required for a trigger")
        if len(payload.summary or "") > MAX_SUMMARY:
            raise InvalidInput.field(f"{index}payload.summary", f"must be at most {MAX_SUMMARY} characters")
        dedup_key = dedup_key or uuid.uuid4().hex
    elif not dedup_key:
        raise InvalidInput.field(f"{index}dedup_key", f"is required for {action}")
    assert dedup_key is not None  # noqa: S101 - set on every branch above
    payload = payload or PagerDutyPayload()
    severity = PD_SEVERITY.get((payload.severity or "").lower()) if payload.severity else Severity.MEDIUM
    if severity is None:
        raise InvalidInput.field(f"{index}payload.severity", "must be one of critical, error, warning, info")
    details = _details(payload.custom_details)
    labels = {
        name: value
        for name, value in (
            ("source", payload.source),
            ("component", payload.component),
            ("group", payload.group),
            ("class", payload.class_),
        )
        if value
    }
    dims = dimensions({**details, **labels})
    if "service" not in dims and payload.group:
        dims["service"] = payload.group
    links = [link.href for link in event.links if link.href]
    if event.client_url:
        links.append(event.client_url)
    return Alert(
        title=payload.summary or f"{action} {dedup_key}",
        severity=severity,
        action=EventAction(action),
        source=payload.source or "pagerduty",
        integration="pagerduty",
        event_time=utc(payload.timestamp) or ctx.received_at,
        identity=(f"pd:{key_id}", dedup_key),
        dedup_key=dedup_key,
        labels=labels,
        annotations=details,
        links=links,
        **as_fields(dims),
    )


def to_alerts(events: list[PagerDutyEvent], key_ids: list[str], ctx: IngestContext, *, single: bool) -> list[Alert]:
    """Events as Alerts; ``key_ids[i]`` is the id of the API key event ``i`` was sent with."""
    check_batch_size(events, ctx.max_batch)
    return [
        _convert(event, "" if single else f"[{i}].", ctx, key_id)
        for i, (event, key_id) in enumerate(zip(events, key_ids, strict=True))
    ]
