"""Generic JSON: ``POST /api/v1/alerts``, one object or an array of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec

from llm_incident_manager.domain.alerts import Alert, EventAction
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.batch import check_batch_size, decode_json
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import as_fields, dimensions, severity_or_default, utc

__all__ = ["GenericAlertIn", "decode"]


class GenericAlertIn(msgspec.Struct, kw_only=True, gc=False):
    """One alert in the generic format. Unknown fields are ignored, as senders add their own."""

    title: str
    description: str | None = None
    severity: str | None = None
    source: str | None = None
    service: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    dedup_key: str | None = None
    status: Literal["firing", "resolved"] = "firing"
    #: RFC 3339 time, or seconds since the epoch.
    timestamp: datetime | float | None = None
    model: str | None = None
    model_version: str | None = None
    provider: str | None = None
    region: str | None = None
    env: str | None = None
    node: str | None = None
    links: list[str] = []


_decoder = msgspec.json.Decoder(GenericAlertIn | list[GenericAlertIn])

#: Label names that identify a generic alert besides its own labels, when the labels do not set them.
_IDENTITY_FIELDS = ("service", "model", "model_version", "provider", "region", "env", "node")


def _event_time(value: datetime | float | None, received_at: datetime, field: str) -> datetime:
    if value is None:
        return received_at
    if isinstance(value, datetime):
        out = utc(value)
        return received_at if out is None else out
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput.field(field, f"timestamp {value!r} is out of range") from None


def _convert(item: GenericAlertIn, index: str, ctx: IngestContext) -> Alert:
    if not item.title.strip():
        raise InvalidInput.field(f"{index}title", "must not be empty")
    dims = dimensions(item.labels)
    explicit = {name: value for name in _IDENTITY_FIELDS if (value := getattr(item, name))}
    dims.update(explicit)
    source = item.source or "generic"
    if item.dedup_key:
        identity: dict[str, str] | tuple[str, str] = (f"generic:{source}", item.dedup_key)
    else:
        # the labels, plus what else tells alerts apart; top-level fields win over labels, as they do for the
        # alert's own dimensions
        identity = dict(item.labels)
        identity.setdefault("alertname", item.title)
        identity.setdefault("source", source)
        for name, value in dims.items():
            identity.setdefault(name, value)
        identity.update(explicit)
    return Alert(
        title=item.title,
        description=item.description,
        severity=severity_or_default(item.severity, f"{index}severity", strict=True),
        action=EventAction.RESOLVE if item.status == "resolved" else EventAction.TRIGGER,
        source=source,
        integration="generic",
        event_time=_event_time(item.timestamp, ctx.received_at, f"{index}timestamp"),
        identity=identity,
        dedup_key=item.dedup_key,
        labels=item.labels,
        annotations=item.annotations,
        links=item.links,
        **as_fields(dims),
    )


def decode(body: bytes, ctx: IngestContext) -> list[Alert]:
    decoded = decode_json(_decoder, body)
    if isinstance(decoded, GenericAlertIn):
        return [_convert(decoded, "", ctx)]
    check_batch_size(decoded, ctx.max_batch)
    return [_convert(item, f"[{i}].", ctx) for i, item in enumerate(decoded)]
