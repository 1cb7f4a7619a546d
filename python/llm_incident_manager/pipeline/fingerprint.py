"""Fingerprint stage: one Rust call for the whole batch (GIL released)."""

from __future__ import annotations

from collections.abc import Sequence

from llm_incident_manager import _core
from llm_incident_manager.domain.alerts import Alert

__all__ = ["fingerprint_alerts"]


def fingerprint_alerts(alerts: Sequence[Alert]) -> list[str]:
    """The fingerprint of each alert, in order: Alertmanager's label fingerprint for label identities,
    scoped SHA-256 for explicit dedup keys."""
    return _core.fingerprint_batch([alert.labels if alert.identity is None else alert.identity for alert in alerts])
