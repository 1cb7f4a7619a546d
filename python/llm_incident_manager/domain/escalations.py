"""An escalation as the store keeps it and the API shows it (docs/oncall.md)."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["EscalationRecord"]


class EscalationRecord(msgspec.Struct, kw_only=True):
    incident_id: str
    receiver: str
    policy: str
    #: active | acknowledged | done
    state: str
    #: the level paged last (0-based) and the run through the levels (0-based)
    level: int
    cycle: int
    severity: str
    #: when the next step is due (None: nothing is)
    next_at: datetime | None
    updated_at: datetime
