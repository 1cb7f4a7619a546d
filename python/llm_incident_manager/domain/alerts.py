"""The normalised alert: every ingest adapter turns its wire format into a list of these."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

__all__ = ["Alert", "AlertStatus", "EventAction", "Severity"]


class Severity(enum.StrEnum):
    """The seed's severity matrix, most to least urgent."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class EventAction(enum.StrEnum):
    """What the sender asks for. Only PagerDuty's Events API can acknowledge."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Alert(msgspec.Struct, gc=False, omit_defaults=True, kw_only=True):
    """One alert as every stage after ingest sees it.

    ``identity`` is what the fingerprint stage hashes: a label dict (Alertmanager's label fingerprint) or a
    ``(scope, key)`` pair for an explicit dedup key; None means the labels themselves (Alertmanager), which
    keeps them out of the stored payload twice. ``event_time`` is the sender's own time when it gave one
    (``startsAt``, ``timestamp``, CloudEvents ``time``), else the arrival time: every window is measured in it.
    """

    title: str
    severity: Severity
    action: EventAction
    source: str
    integration: str
    event_time: datetime
    identity: dict[str, str] | tuple[str, str] | None
    dedup_key: str | None = None
    description: str | None = None
    service: str | None = None
    model: str | None = None
    model_version: str | None = None
    provider: str | None = None
    region: str | None = None
    env: str | None = None
    node: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: list[str] = []

    @property
    def status(self) -> AlertStatus:
        return AlertStatus.RESOLVED if self.action is EventAction.RESOLVE else AlertStatus.FIRING
