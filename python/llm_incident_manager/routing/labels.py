"""The labels routing, silences and inhibition match on: the alert's own labels, completed with what the
normalised alert knows when the sender did not say it as a label (docs/routing.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llm_incident_manager.domain.alerts import Alert

if TYPE_CHECKING:
    from llm_incident_manager.pipeline.dedup import OpenAlertRow

__all__ = ["complete_labels", "routing_labels", "row_labels"]

_DIMS = ("service", "model", "model_version", "provider", "region", "env", "node")


def complete_labels(labels: Mapping[str, str], severity: str, title: str, dims: Any) -> dict[str, str]:
    """``labels`` plus ``severity`` (our severity word), ``alertname`` (the title) and the dimensions
    (``service``, ``model``, ... read from ``dims``'s attributes of those names, where it has them) that the labels
    lack; a label the sender set always wins."""
    out = dict(labels)
    out.setdefault("severity", severity)
    out.setdefault("alertname", title)
    for name in _DIMS:
        value = getattr(dims, name, None)
        if value:
            out.setdefault(name, value)
    return out


def routing_labels(alert: Alert) -> dict[str, str]:
    """The labels a new alert is routed, silenced and inhibited on."""
    return complete_labels(alert.labels, alert.severity.value, alert.title, alert)


def row_labels(row: OpenAlertRow) -> dict[str, str]:
    """The labels a stored open alert is matched on after a restart (the store keeps the incident's severity, not
    each alert's, and no model version or provider per alert)."""
    return complete_labels(row.labels, row.severity.value, row.title, row)
