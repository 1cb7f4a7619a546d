"""Incidents, the alerts they hold, their timeline, and the per-alert answer of ingest."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

from llm_incident_manager.domain.alerts import AlertStatus, Severity

__all__ = ["Action", "AlertResult", "Incident", "IncidentAlert", "IncidentStatus", "TimelineEvent"]


class IncidentStatus(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Action(enum.StrEnum):
    """What the pipeline decided for one alert (the ``action`` of an ingest result)."""

    CREATED = "created"
    DEDUPLICATED = "deduplicated"
    GROUPED = "grouped"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"
    ACKNOWLEDGED = "acknowledged"
    IGNORED = "ignored"


class AlertResult(msgspec.Struct, gc=False):
    incident_id: str | None
    fingerprint: str
    action: Action


class Incident(msgspec.Struct, kw_only=True, omit_defaults=False):
    id: str
    status: IncidentStatus
    severity: Severity
    title: str
    source: str
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    alert_count: int
    fingerprint: str
    description: str | None = None
    service: str | None = None
    model: str | None = None
    model_version: str | None = None
    provider: str | None = None
    region: str | None = None
    env: str | None = None
    node: str | None = None
    labels: dict[str, str] = {}
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


class IncidentAlert(msgspec.Struct, kw_only=True):
    """One distinct alert (one fingerprint) of an incident, with how often it was seen."""

    incident_id: str
    fingerprint: str
    status: AlertStatus
    title: str
    severity: Severity
    source: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    dedup_key: str | None = None
    resolved_at: datetime | None = None
    #: the incident this alert moved to when it fired again after a silence longer than the dedup window, or when
    #: a responder split it out
    superseded_by: str | None = None
    #: the alert's number, unique across incidents (``.../alerts/{id}/split`` takes it, or the fingerprint)
    id: int = 0


class TimelineEvent(msgspec.Struct, kw_only=True):
    id: int
    incident_id: str
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any] = {}
