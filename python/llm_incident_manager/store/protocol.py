"""The storage interface every mode implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.domain.incidents import Incident, IncidentAlert, IncidentStatus, TimelineEvent
from llm_incident_manager.domain.notifications import PageOutcome, PageRecord, PageState
from llm_incident_manager.domain.silences import Silence
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import NewPage, TimelineRow, WriteSet

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

    async def get_incidents(self, incident_ids: Sequence[str]) -> tuple[dict[str, Incident], int]:
        """The incidents of these ids that exist, by id, in one read, and the watermark they were read at."""
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

    # -- the notification outbox (docs/notifications.md) ------------------------------------------------
    async def claim_pages(
        self, worker: str, now: datetime, lease_until: datetime, limit: int, ids: Sequence[str] | None = None
    ) -> list[PageRecord]:
        """Claims up to ``limit`` due pages (pending and due, or claimed by a worker whose lease ran out) for
        ``worker`` until ``lease_until``, earliest first; with ``ids``, only those. PostgreSQL claims with
        ``FOR UPDATE SKIP LOCKED``, so instances never claim the same page. A claim counts an attempt
        (``attempts`` + 1): a worker that dies mid-send leaves it counted, so the next claim knows it is a retry."""
        ...

    async def finish_pages(
        self,
        outcomes: Sequence[PageOutcome],
        now: datetime,
        *,
        timeline: Sequence[TimelineRow] = (),
        pages: Sequence[NewPage] = (),
        threads: Sequence[tuple[str, str, str, str]] = (),
        disabled: Sequence[tuple[str, str, str, datetime, str]] = (),
    ) -> None:
        """In one transaction: the claimed pages' outcomes (a done page is never changed again), their timeline
        events, new pages (fallbacks; a known idempotency key is skipped), thread refs (incident, receiver,
        target, ref) and endpoints to disable (receiver, target, endpoint, at, reason)."""
        ...

    async def publishable_pages(self, now: datetime, redrive_before: datetime, limit: int) -> list[PageRecord]:
        """Due pages not published to the queue since ``redrive_before`` (distributed mode's relay)."""
        ...

    async def mark_published(self, pages: Sequence[tuple[str, int, datetime]], at: datetime) -> None:
        """Marks (id, attempts, next_at) pages published at ``at``, unless a worker claimed or rescheduled one since
        (its attempts or its next_at moved on): a late mark must not hide a retry or a held-back send from the
        relay."""
        ...

    async def list_pages(
        self, state: PageState | None, incident_id: str | None, cursor: str | None, limit: int
    ) -> Page[PageRecord]:
        """Pages, newest first."""
        ...

    async def get_page(self, page_id: str) -> PageRecord | None: ...

    async def thread_refs(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        """The refs (Slack ts) kept for (incident, receiver, target) keys."""
        ...

    async def load_disabled(self) -> list[tuple[str, str, str]]:
        """(receiver, target, endpoint) of every endpoint disabled by a 410."""
        ...

    async def page_counts(self) -> dict[str, int]:
        """How many pages are in each state."""
        ...

    # -- escalations (docs/oncall.md) ------------------------------------------------------------------
    async def claim_escalations(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[EscalationRecord]:
        """Claims due escalations (``next_at`` passed, not done, no live lease) until ``lease_until``; PostgreSQL
        with ``FOR UPDATE SKIP LOCKED``, so one instance takes each."""
        ...

    async def list_escalations(self, incident_id: str) -> list[EscalationRecord]: ...

    # -- configuration objects managed through the API --------------------------------------------------
    async def list_config_objects(self) -> list[tuple[str, str, Any, datetime]]:
        """(kind, name, body, updated_at) of every object, by kind and name."""
        ...

    async def put_config_object(self, kind: str, name: str, body: Any, at: datetime) -> None: ...

    async def delete_config_object(self, kind: str, name: str) -> bool: ...

    # -- silences (docs/routing.md) -------------------------------------------------------------------
    async def save_silence(self, silence: Silence) -> None:
        """Inserts the silence, or replaces the one with its id."""
        ...

    async def list_silences(self) -> list[Silence]:
        """Every silence, newest first (expired ones too: the API filters)."""
        ...

    async def get_silence(self, silence_id: str) -> Silence | None: ...

    async def create_key(self, record: ApiKeyRecord) -> None: ...

    async def list_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool: ...

    async def find_key(self, key_hash: str) -> ApiKeyRecord | None: ...
