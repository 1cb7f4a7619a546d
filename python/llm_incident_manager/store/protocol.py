"""The storage interface every mode implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import msgspec

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentAlert, IncidentStatus, TimelineEvent
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import WriteSet

__all__ = ["MAX_PAGE", "ApiKeyRecord", "IncidentQuery", "Page", "Store"]

T = TypeVar("T")

#: The largest ``limit`` a list accepts.
MAX_PAGE = 500


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class IncidentQuery(msgspec.Struct, kw_only=True):
    status: list[IncidentStatus] = []
    severity: list[Severity] = []
    service: str | None = None
    model: str | None = None
    env: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 50


class ApiKeyRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


class Store(Protocol):
    """What the pipeline, the API and the command line need from the system of record."""

    #: "sqlite" or "postgresql"
    kind: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def migrate(self) -> list[int]:
        """Applies pending migrations; returns the versions applied."""
        ...

    async def ping(self) -> None:
        """Raises when the store cannot answer a query."""
        ...

    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None:
        """Writes every batch's immediate changes in one transaction, all or nothing; with ``flush``, also folds
        that bucket of counters into the rows and advances the watermark, and returns the new watermark."""
        ...

    async def watermark(self) -> int:
        """The last alert-log id the counters in the rows include."""
        ...

    async def recount(self) -> int:
        """Folds into the rows the counters of every repeat logged past the watermark (what a crash kept from
        being flushed) and advances the watermark; returns how many repeats it recounted."""
        ...

    async def load_open_alerts(self) -> list[OpenAlertRow]:
        """Every alert of every open incident (superseded ones left out), oldest first."""
        ...

    async def load_splits(self) -> list[tuple[str, str]]:
        """The (incident_id, fingerprint) pairs responders split apart: never merged again."""
        ...

    async def get_incident(self, incident_id: str) -> tuple[Incident | None, int]:
        """The incident and the watermark its row was read at."""
        ...

    async def list_incidents(self, query: IncidentQuery) -> tuple[Page[Incident], int]: ...

    async def list_incident_alerts(
        self, incident_id: str, cursor: str | None, limit: int, fingerprint: str | None = None
    ) -> tuple[Page[IncidentAlert], int]:
        """A page of the incident's alerts in the order they joined; with ``fingerprint``, only that alert."""
        ...

    async def list_timeline(self, incident_id: str, cursor: str | None, limit: int) -> Page[TimelineEvent]: ...

    async def count_logged_alerts(self) -> int:
        """How many alerts the alert log holds (every accepted alert, ignored ones included)."""
        ...

    async def create_key(self, record: ApiKeyRecord) -> None: ...

    async def list_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool: ...

    async def find_key(self, key_hash: str) -> ApiKeyRecord | None: ...
