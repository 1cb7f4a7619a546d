"""Shared normalisation: model-aware dimensions, times, severities. Used by every adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.severity import DEFAULT_SEVERITY, parse_severity
from llm_incident_manager.errors import InvalidInput

__all__ = [
    "DIMENSION_ALIASES",
    "GO_ZERO_TIME_YEAR",
    "DimensionFields",
    "as_fields",
    "dimensions",
    "severity_or_default",
    "utc",
]

#: Label names read for each first-class dimension, first match wins (documented in docs/ingest.md).
DIMENSION_ALIASES: dict[str, tuple[str, ...]] = {
    "service": ("service", "service_name", "app", "job"),
    "model": ("model", "model_name", "llm_model", "model_id"),
    "model_version": ("model_version", "model_revision"),
    "provider": ("provider", "model_provider", "llm_provider"),
    "region": ("region", "cloud_region", "zone"),
    "env": ("env", "environment", "stage"),
    "node": ("node", "nodename", "kubernetes_node", "host", "hostname"),
}

#: Go's zero time.Time (0001-01-01T00:00:00Z) means "no time" in Alertmanager payloads.
GO_ZERO_TIME_YEAR = 1


#: label name → (dimension, rank of the alias: lower wins)
_ALIAS_OF: dict[str, tuple[str, int]] = {
    name: (dim, rank) for dim, names in DIMENSION_ALIASES.items() for rank, name in enumerate(names)
}


def dimensions(labels: dict[str, str]) -> dict[str, str]:
    """The first-class dimensions found in ``labels`` under any of their aliases (the first alias in
    ``DIMENSION_ALIASES`` wins). One pass over the labels: an alert has a handful, the aliases are many."""
    out: dict[str, str] = {}
    ranks: dict[str, int] = {}
    alias_of = _ALIAS_OF
    for name, value in labels.items():
        found = alias_of.get(name)
        if found is None or not value:
            continue
        dim, rank = found
        if rank < ranks.get(dim, 99):
            out[dim] = value
            ranks[dim] = rank
    return out


class DimensionFields(TypedDict):
    """The dimension keyword arguments of ``Alert``."""

    service: str | None
    model: str | None
    model_version: str | None
    provider: str | None
    region: str | None
    env: str | None
    node: str | None


def as_fields(dims: dict[str, str]) -> DimensionFields:
    get = dims.get
    return {
        "service": get("service"),
        "model": get("model"),
        "model_version": get("model_version"),
        "provider": get("provider"),
        "region": get("region"),
        "env": get("env"),
        "node": get("node"),
    }


def utc(value: datetime | None) -> datetime | None:
    """A timezone-aware UTC time; naive times are taken as UTC; Go's zero time is None."""
    if value is None or value.year == GO_ZERO_TIME_YEAR:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def severity_or_default(value: str | None, field: str, *, strict: bool) -> Severity:
    """Parses a severity word. Unknown words are a 400 naming ``field`` when ``strict`` (our own formats),
    and the default when not (labels of foreign formats, where any word may appear)."""
    if value is None or value == "":
        return DEFAULT_SEVERITY
    parsed = parse_severity(value)
    if parsed is not None:
        return parsed
    if strict:
        raise InvalidInput.field(
            field, f"unknown severity {value!r}; use critical, high, medium, low, info (or P1..P5)"
        )
    return DEFAULT_SEVERITY
