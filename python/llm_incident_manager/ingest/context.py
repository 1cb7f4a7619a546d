"""What an adapter knows about the request besides its body."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["IngestContext"]


class IngestContext(msgspec.Struct, frozen=True, kw_only=True):
    received_at: datetime
    #: The id of the API key that sent the request: PagerDuty dedup keys are scoped to it.
    key_id: str = ""
    max_batch: int = 1000
    content_type: str = "application/json"
    headers: dict[str, str] = {}
