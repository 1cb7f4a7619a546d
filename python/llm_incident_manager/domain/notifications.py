"""A page as the outbox stores it and the API shows it (docs/notifications.md)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

__all__ = ["PageOutcome", "PageRecord", "PageState"]


class PageState(enum.StrEnum):
    #: waiting until ``next_at`` (new, a retry, throttled, or gathered for a digest)
    PENDING = "pending"
    #: claimed by a worker until ``lease_until``
    SENDING = "sending"
    DONE = "done"
    #: a dead letter: every attempt failed (or a final error) and there was no fallback
    FAILED = "failed"
    #: handed to the receiver's fallback (its pages carry ``fallback_of``)
    FALLBACK = "fallback"
    #: sent as part of another page's send (``coalesced_into``): a throttle or a digest gathered them
    COALESCED = "coalesced"
    #: its endpoint answered 410 Gone and is disabled
    DROPPED = "dropped"
    #: a delayed page (a user's notification rule) whose incident was acknowledged or resolved before its time
    CANCELLED = "cancelled"


class PageRecord(msgspec.Struct, kw_only=True):
    id: str
    idempotency_key: str
    incident_id: str
    event: str
    receiver: str
    target: str
    channel: str
    recipient: str
    severity: str
    state: PageState
    attempts: int
    next_at: datetime
    created_at: datetime
    updated_at: datetime
    digest: bool = False
    data: dict[str, Any] = {}
    done_at: datetime | None = None
    last_error: str | None = None
    last_status: int | None = None
    provider_ref: str | None = None
    fallback_of: str | None = None
    coalesced_into: str | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    published_at: datetime | None = None


class PageOutcome(msgspec.Struct, kw_only=True):
    """What a worker writes back for one claimed page."""

    id: str
    state: PageState
    attempts: int
    next_at: datetime
    done_at: datetime | None = None
    last_error: str | None = None
    last_status: int | None = None
    provider_ref: str | None = None
    coalesced_into: str | None = None
