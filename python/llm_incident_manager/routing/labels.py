"""The labels routing, silences and inhibition match on: the alert's own labels, completed with what the
normalised alert knows when the sender did not say it as a label (docs/routing.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_incident_manager.domain.alerts import Alert

if TYPE_CHECKING:
    from llm_incident_manager.pipeline.dedup import OpenAlertRow

__all__ = ["routing_labels", "row_labels"]

_DIMS = ("service", "model", "model_version", "provider", "region", "env", "node")


def routing_labels(alert: Alert) -> dict[str, str]:
    """``alert.labels`` plus ``severity`` (our severity word), ``alertname`` (the title) and the dimensions
    (``service``, ``model``, ...) where the labels lack them; a label the sender set always wins."""
    labels = dict(alert.labels)
    labels.setdefault("severity", alert.severity.value)
    labels.setdefault("alertname", alert.title)
    for name in _DIMS:
        value = getattr(alert, name)
        if value is not None:
            labels.setdefault(name, value)
    return labels


def row_labels(row: OpenAlertRow) -> dict[str, str]:
    """The labels a stored open alert is matched on after a restart (as ``routing_labels`` builds them for a new
    alert; the store keeps the incident's severity, not each alert's)."""
    labels = dict(row.labels)
    labels.setdefault("severity", row.severity.value)
    labels.setdefault("alertname", row.title)
    for name in ("service", "model", "env", "region", "node"):
        value = getattr(row, name)
        if value:
            labels.setdefault(name, value)
    return labels
