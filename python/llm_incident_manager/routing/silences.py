"""Silences: create, expire, match (docs/routing.md).

Active and pending silences are kept in memory, compiled, and matched against every alert of a batch before it
is decided; an alert that matches an active one is recorded as usual (its incident, its counts) with the action
``suppressed``, and the events it causes page nobody. Every instance re-reads the silences from the store every
``refresh`` seconds, so a silence made on another instance (or with ``lim silence add`` on the store) applies
everywhere within that time; one made through this instance's API applies at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from llm_incident_manager.domain.silences import Silence, SilenceMatcher, SilenceState
from llm_incident_manager.errors import InvalidInput, NotFound
from llm_incident_manager.ids import uuid7
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.writeset import WriteSet
from llm_incident_manager.store.protocol import Store

__all__ = ["Silencer", "check_matchers", "silence_events"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Compiled:
    silence: Silence
    patterns: tuple[re.Pattern[str] | None, ...]

    def matches(self, labels: Mapping[str, str], at: datetime) -> bool:
        s = self.silence
        return s.starts_at <= at < s.ends_at and all(
            m.matches(labels, p) for m, p in zip(s.matchers, self.patterns, strict=True)
        )


def check_matchers(matchers: Sequence[SilenceMatcher], field: str = "matchers") -> None:
    """Alertmanager's rules: at least one matcher, valid regexes, and not all of them matching the empty string
    (a silence that would silence everything)."""
    if not matchers:
        raise InvalidInput.field(field, "at least one matcher is required")
    empty_ok = 0
    for i, m in enumerate(matchers):
        if not m.name:
            raise InvalidInput.field(f"{field}[{i}].name", "must not be empty")
        try:
            pattern = m.compiled()
        except ValueError as exc:
            raise InvalidInput.field(f"{field}[{i}].value", str(exc)) from None
        if m.matches({}, pattern):
            empty_ok += 1
    if empty_ok == len(matchers):
        raise InvalidInput.field(field, "at least one matcher must not match the empty string (it would silence all)")


class Silencer:
    def __init__(self, store: Store, refresh: float = 2.0) -> None:
        self.store = store
        self.refresh = refresh
        self._live: list[_Compiled] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> int:
        return len(self._live)

    async def load(self) -> None:
        self._set(await self.store.list_silences())

    def _set(self, silences: Sequence[Silence]) -> None:
        now = datetime.now(UTC)
        self._live = [
            _Compiled(s, tuple(m.compiled() for m in s.matchers))
            for s in silences
            if s.state(now) is not SilenceState.EXPIRED
        ]

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="lim-silences")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)  # the refresh period itself
            try:
                await self.load()
            except Exception as exc:  # keep the last known silences
                log.warning("reloading silences failed: %r", exc)

    def match(self, labels: Mapping[str, str], at: datetime) -> str | None:
        """The id of an active silence matching these labels at ``at``, or None."""
        for compiled in self._live:
            if compiled.matches(labels, at):
                return compiled.silence.id
        return None

    async def create(
        self,
        matchers: list[SilenceMatcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
        replaces: str | None = None,
    ) -> Silence:
        """A new silence. As in Alertmanager, posting with the id of an existing silence expires that one and
        makes a new one, whose id is returned."""
        check_matchers(matchers)
        if ends_at <= starts_at:
            raise InvalidInput.field("endsAt", "must be after startsAt")
        if ends_at <= now:
            raise InvalidInput.field("endsAt", "must be in the future")
        if not created_by.strip():
            raise InvalidInput.field("createdBy", "must not be empty")
        if replaces is not None:
            old = await self.store.get_silence(replaces)
            if old is None:
                raise NotFound(f"no silence {replaces}")
            if old.state(now) is not SilenceState.EXPIRED:
                await self.expire(replaces, now)
        silence = Silence(
            id=uuid7(), matchers=matchers, starts_at=max(starts_at, now), ends_at=ends_at, created_by=created_by,
            comment=comment, created_at=now, updated_at=now,
        )  # fmt: skip
        await self.store.save_silence(silence)
        await self.load()
        return silence

    async def expire(self, silence_id: str, now: datetime) -> Silence:
        """Ends a silence now (a pending one starts and ends now); expiring an expired one changes nothing."""
        silence = await self.store.get_silence(silence_id)
        if silence is None:
            raise NotFound(f"no silence {silence_id}")
        if silence.state(now) is SilenceState.EXPIRED:
            return silence
        expired = Silence(
            id=silence.id, matchers=silence.matchers, starts_at=min(silence.starts_at, now), ends_at=now,
            created_by=silence.created_by, comment=silence.comment, created_at=silence.created_at, updated_at=now,
        )  # fmt: skip
        await self.store.save_silence(expired)
        await self.load()
        return expired


def silence_events(silence: Silence, kind: str, open_alerts: Sequence[OpenAlertRow], now: datetime) -> WriteSet:
    """The timeline events (``silence_created``, ``silence_expired``) of the open incidents that hold an alert the
    silence matches."""
    ws = WriteSet()
    patterns = [m.compiled() for m in silence.matchers]
    incidents = dict.fromkeys(
        row.incident_id
        for row in open_alerts
        if all(m.matches(row.labels, p) for m, p in zip(silence.matchers, patterns, strict=True))
    )
    data = {
        "silence": silence.id, "matchers": [str(m) for m in silence.matchers], "created_by": silence.created_by,
        "comment": silence.comment, "starts_at": silence.starts_at.isoformat(), "ends_at": silence.ends_at.isoformat(),
    }  # fmt: skip
    for incident_id in incidents:
        ws.timeline.append((incident_id, now, kind, f"silence:{silence.id}", dict(data)))
    return ws
