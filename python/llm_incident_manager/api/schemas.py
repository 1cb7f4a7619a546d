"""Request and response bodies of the API that are not domain types."""

from __future__ import annotations

import msgspec

from llm_incident_manager.domain.incidents import AlertResult, Incident

__all__ = ["Health", "IngestResponse", "NoteIn", "NoteOut", "PagerDutyError", "PagerDutyResponse", "SplitOut"]


class IngestResponse(msgspec.Struct):
    """One result per alert, in request order."""

    results: list[AlertResult]


class PagerDutyResponse(msgspec.Struct, omit_defaults=True):
    """PagerDuty's answer, with our per-alert ``results`` beside its fields."""

    status: str
    message: str
    results: list[AlertResult]
    dedup_key: str | None = None
    dedup_keys: list[str] | None = None


class PagerDutyError(msgspec.Struct):
    status: str
    message: str
    errors: list[str]


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class NoteOut(msgspec.Struct):
    incident_id: str
    actor: str
    text: str


class SplitOut(msgspec.Struct):
    """The incident the alert left, and the new incident it is now the alert of."""

    incident: Incident
    new_incident: Incident


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    store: str | None = None
    detail: str | None = None
