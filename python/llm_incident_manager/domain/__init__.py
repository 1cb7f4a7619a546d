"""Data types shared by every stage: msgspec Structs and enums."""

from llm_incident_manager.domain.alerts import Alert, AlertStatus, EventAction, Severity
from llm_incident_manager.domain.incidents import (
    Action,
    AlertResult,
    Incident,
    IncidentAlert,
    IncidentStatus,
    TimelineEvent,
)

__all__ = [
    "Action",
    "Alert",
    "AlertResult",
    "AlertStatus",
    "EventAction",
    "Incident",
    "IncidentAlert",
    "IncidentStatus",
    "Severity",
    "TimelineEvent",
]
