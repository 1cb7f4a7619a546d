"""Silences, in Alertmanager's API v2 shape (docs/routing.md)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime

import msgspec

__all__ = ["Silence", "SilenceMatcher", "SilenceState"]


class SilenceState(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"


class SilenceMatcher(msgspec.Struct, forbid_unknown_fields=False):
    """Alertmanager's API v2 matcher: ``isEqual`` false negates (``!=``, ``!~``)."""

    name: str
    value: str
    isRegex: bool = False  # noqa: N815 - Alertmanager's field name
    isEqual: bool = True  # noqa: N815

    def compiled(self) -> re.Pattern[str] | None:
        """The value as Alertmanager's anchored RE2 expression (MatcherError when it is not one)."""
        from llm_incident_manager.routing.matchers import compile_regex

        return compile_regex(self.value) if self.isRegex else None

    def matches(self, labels: Mapping[str, str], pattern: re.Pattern[str] | None = None) -> bool:
        """A missing label is the empty string, as in Alertmanager."""
        value = labels.get(self.name, "")
        if self.isRegex:
            found = (pattern or self.compiled() or re.compile("")).fullmatch(value) is not None
        else:
            found = value == self.value
        return found if self.isEqual else not found

    def __str__(self) -> str:
        op = ("=~" if self.isRegex else "=") if self.isEqual else ("!~" if self.isRegex else "!=")
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{op}"{escaped}"'


class Silence(msgspec.Struct, kw_only=True):
    id: str
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> SilenceState:
        if self.ends_at <= now:
            return SilenceState.EXPIRED
        if self.starts_at > now:
            return SilenceState.PENDING
        return SilenceState.ACTIVE
