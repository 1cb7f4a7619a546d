"""CloudEvents 1.0 over HTTP: ``POST /api/v1/integrations/cloudevents``.

Structured mode (``application/cloudevents+json``), batch mode (``application/cloudevents-batch+json``) and
binary mode (``ce-*`` headers, the body is ``data``). Repeated ``source`` + ``id`` is a duplicate; a
``dedupkey`` extension attribute (or ``data.dedup_key``) names a longer-lived identity, so a later event can
resolve an earlier one.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import msgspec

from llm_incident_manager.domain.alerts import Alert, EventAction
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.batch import check_batch_size, decode_json
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import as_fields, dimensions, severity_or_default, utc

__all__ = ["decode"]

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_REQUIRED = ("specversion", "id", "source", "type")
_RESOLVED_WORDS = frozenset({"resolved", "resolve", "ok", "closed", "recovered"})

_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_time_decoder = msgspec.json.Decoder(datetime)


def _str_dict(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput.field(field, "must be an object of string values")
    return value


def _text(data: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput.field(field, "must be an RFC 3339 time string")
    try:
        return utc(_time_decoder.decode(msgspec.json.encode(value)))
    except msgspec.ValidationError:
        raise InvalidInput.field(field, f"{value!r} is not an RFC 3339 time") from None


def _event_to_alert(event: dict[str, Any], data: Any, index: str, ctx: IngestContext) -> Alert:
    for name in _REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidInput.field(f"{index}{name}", "is required (a non-empty string)")
    if event["specversion"] != "1.0":
        raise InvalidInput.field(f"{index}specversion", f"unsupported version {event['specversion']!r}")
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    data_index = f"{index}data."
    labels = _str_dict(fields.get("labels"), f"{data_index}labels")
    annotations = _str_dict(fields.get("annotations"), f"{data_index}annotations")
    dims = dimensions(labels)
    for name in ("service", "model", "model_version", "provider", "region", "env", "node"):
        value = fields.get(name)
        if isinstance(value, str) and value:
            dims[name] = value
    if "service" not in dims and isinstance(event.get("subject"), str) and event["subject"]:
        dims["service"] = event["subject"]
    status = _text(fields, "status", "state") or _text(event, "status") or "firing"
    resolved = status.lower() in _RESOLVED_WORDS
    severity_word = _text(fields, "severity", "priority") or _text(event, "severity")
    dedup = _text(event, "dedupkey") or _text(fields, "dedup_key")
    source = event["source"]
    title = _text(fields, "title", "summary", "message", "alertname") or (
        f"{event['type']} {event['subject']}" if event.get("subject") else event["type"]
    )
    links = [url for name in ("url", "runbook_url", "dashboard_url") if (url := _text(fields, name))]
    return Alert(
        title=title,
        description=_text(fields, "description", "details"),
        severity=severity_or_default(severity_word, f"{data_index}severity", strict=False),
        action=EventAction.RESOLVE if resolved else EventAction.TRIGGER,
        source=source,
        integration="cloudevents",
        event_time=_time(event.get("time"), f"{index}time") or ctx.received_at,
        identity=(f"ce:{source}", f"key:{dedup}" if dedup else f"id:{event['id']}"),
        dedup_key=dedup or event["id"],
        labels={**labels, "ce_type": event["type"]},
        annotations=annotations,
        links=links,
        **as_fields(dims),
    )


def _structured_data(event: dict[str, Any], index: str) -> Any:
    if "data_base64" in event:
        try:
            raw = base64.b64decode(event["data_base64"], validate=True)
        except (binascii.Error, TypeError):
            raise InvalidInput.field(f"{index}data_base64", "is not valid base64") from None
        try:
            return _any_decoder.decode(raw)
        except msgspec.DecodeError:
            return None
    return event.get("data")


def _binary(body: bytes, ctx: IngestContext) -> list[Alert]:
    event: dict[str, Any] = {name[3:]: value for name, value in ctx.headers.items() if name.startswith("ce-")}
    if "specversion" not in event:
        raise InvalidInput.field(
            "content-type",
            f"use {STRUCTURED}, {BATCH}, or binary mode with ce-specversion, ce-id, ce-source, ce-type headers",
        )
    data: Any = None
    if body.strip():
        if "json" not in ctx.content_type.lower():
            raise InvalidInput.field("content-type", "binary-mode data must be JSON")
        data = decode_json(_any_decoder, body)
    # ce-* header names are case-insensitive and map to the lower-case attribute names
    return [_event_to_alert(event, data, "ce-", ctx)]


def decode(body: bytes, ctx: IngestContext) -> list[Alert]:
    content_type = ctx.content_type.split(";", 1)[0].strip().lower()
    if content_type == BATCH:
        events = decode_json(_any_decoder, body)
        if not isinstance(events, list):
            raise InvalidInput.field("body", "a batch must be a JSON array of events")
        check_batch_size(events, ctx.max_batch)
        out = []
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise InvalidInput.field(f"[{i}]", "must be an event object")
            out.append(_event_to_alert(event, _structured_data(event, f"[{i}]."), f"[{i}].", ctx))
        return out
    if content_type == STRUCTURED:
        event = decode_json(_any_decoder, body)
        if not isinstance(event, dict):
            raise InvalidInput.field("body", "a structured-mode event must be a JSON object")
        return [_event_to_alert(event, _structured_data(event, ""), "", ctx)]
    return _binary(body, ctx)
