"""The labels routing, silences and inhibition match on: the alert's own labels, completed with what the
normalised alert knows when the sender did not say it as a label (docs/routing.md)."""

from __future__ import annotations

from llm_incident_manager.domain.alerts import Alert

__all__ = ["routing_labels"]

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
