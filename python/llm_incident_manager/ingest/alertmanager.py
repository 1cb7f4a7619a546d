"""Alertmanager's webhook payload (version 4): ``POST /api/v1/integrations/alertmanager``.

Every alert of the notification is taken, firing and resolved. Unknown fields are accepted, since
Alertmanager adds fields over releases (``truncatedAlerts``, ``notification_reason``...). Go's zero time in
``endsAt`` means no end. The fingerprint is computed from the labels and equals Alertmanager's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.batch import check_batch_size, decode_json
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import as_fields, dimensions, severity_or_default, utc

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "converter",
    "decode",
    "decode_wire",
    "severity_of",
    "title_of",
    "to_alert",
]


class AlertmanagerAlert(msgspec.Struct, gc=False, rename="camel"):
    labels: dict[str, str]
    status: str = "firing"
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: str = ""


class AlertmanagerWebhook(msgspec.Struct, gc=False, rename="camel"):
    alerts: list[AlertmanagerAlert]
    version: str = "4"
    status: str = ""
    receiver: str = ""
    group_key: str = ""
    external_url: str = msgspec.field(default="", name="externalURL")


_decoder = msgspec.json.Decoder(AlertmanagerWebhook)


#: severity words seen in labels → their severity (any word may appear; unknown ones mean the default), bounded
_SEVERITIES: dict[str, Severity] = {}


def title_of(labels: dict[str, str], annotations: dict[str, str]) -> str:
    """An Alertmanager alert's title: its ``summary`` annotation, else its ``alertname``."""
    return annotations.get("summary") or labels.get("alertname") or "alert"


def severity_of(labels: dict[str, str]) -> Severity:
    """An Alertmanager alert's severity: its ``severity`` (else ``priority``) label; unknown words, the default."""
    word = labels.get("severity") or labels.get("priority") or ""
    found = _SEVERITIES.get(word)
    if found is None:
        found = severity_or_default(word or None, "labels.severity", strict=False)
        if len(_SEVERITIES) < 1024:
            _SEVERITIES[word] = found
    return found


def to_alert(item: AlertmanagerAlert, index: str, ctx: IngestContext, source: str) -> Alert:
    """One Alertmanager alert (webhook or API v2 shape) as an Alert."""
    if item.status not in ("firing", "resolved"):
        raise InvalidInput.field(f"{index}status", f"must be 'firing' or 'resolved', not {item.status!r}")
    labels = item.labels
    if not labels:
        raise InvalidInput.field(f"{index}labels", "must not be empty: labels identify an Alertmanager alert")
    starts_at = utc(item.starts_at)
    ends_at = utc(item.ends_at)
    resolved = item.status == "resolved"
    event_time = (ends_at if resolved else None) or starts_at or ctx.received_at
    title = title_of(labels, item.annotations)
    links = [url for url in (item.generator_url, item.annotations.get("runbook_url", "")) if url]
    return Alert(
        title=title,
        description=item.annotations.get("description"),
        severity=severity_of(labels),
        action=EventAction.RESOLVE if resolved else EventAction.TRIGGER,
        source=source,
        integration="alertmanager",
        event_time=event_time,
        identity=None,
        labels=labels,
        annotations=item.annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        links=links,
        **as_fields(dimensions(labels)),
    )


def decode(body: bytes, ctx: IngestContext) -> list[Alert]:
    payload = decode_json(_decoder, body)
    check_batch_size(payload.alerts, ctx.max_batch)
    return [to_alert(item, f"alerts[{i}].", ctx, "alertmanager") for i, item in enumerate(payload.alerts)]


def decode_wire(body: bytes, ctx: IngestContext) -> tuple[list[AlertmanagerAlert], list[bool]]:
    """The webhook's alerts as decoded, validated as ``decode`` validates them, and whether each resolves: the
    input of ``IngestPipeline.ingest_wire``, which normalises only what is not a plain repeat."""
    payload = decode_json(_decoder, body)
    items = payload.alerts
    check_batch_size(items, ctx.max_batch)
    resolved = []
    for i, item in enumerate(items):
        if not item.labels or item.status not in ("firing", "resolved"):
            to_alert(item, f"alerts[{i}].", ctx, "alertmanager")  # raises, naming the field
        resolved.append(item.status == "resolved")
    return items, resolved


def converter(items: list[AlertmanagerAlert], ctx: IngestContext) -> Callable[[int], Alert]:
    """Normalises the webhook's alert ``index`` as ``decode`` does."""

    def convert(index: int) -> Alert:
        return to_alert(items[index], f"alerts[{index}].", ctx, "alertmanager")

    return convert
