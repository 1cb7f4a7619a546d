"""Escalation: who is paged at each step, and the durable timer that takes the next step (docs/oncall.md).

* When an incident opens on a receiver with an ``escalation_policy``, the planner pages level 0 at once (with the
  receiver's own integrations) and writes the escalation row: level 0, cycle 0, ``next_at`` = now +
  ``escalate_after``. All in the incident's transaction.
* The worker (every instance runs one) claims due rows (``FOR UPDATE SKIP LOCKED`` in PostgreSQL, the single
  writer in SQLite) and takes the step through the group-commit writer, so the step's pages, its timeline event
  and the row's next state are one transaction: the next level (after the last level, the first again, for
  ``repeat`` cycles in all), or, for an acknowledged incident whose ``ack_timeout`` ran out, back to triggered
  and the current level paged again.
* Acknowledge stops the timer (``next_at`` = the ack timeout, or none); resolve ends it. Both are written with the
  acknowledgement or resolution itself.
* A step's pages carry the idempotency key ``{incident}/escalation:{cycle}.{level}@{due}/{receiver}/{target}``:
  a step taken twice (a worker that died after the commit, two instances) pages nobody twice.

People are reached through "person targets": for every user, one target per contact method the configuration can
serve (Slack DM with the bot token, email through ``global``'s SMTP settings, SMS and voice through the
``notifications.twilio`` account), under the receiver name ``user:<name>``. Schedule targets are resolved to
whoever is on call at the moment of the step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from llm_incident_manager.clock import Clock, SystemClock
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.escalation.config import (
    EscalationLevel,
    EscalationPolicyConfig,
    EscalationTarget,
    TeamConfig,
)
from llm_incident_manager.ids import uuid7
from llm_incident_manager.notify.config import Channel, EventKind, NotificationRule
from llm_incident_manager.notify.planner import next_digest
from llm_incident_manager.pipeline.writeset import EscalationWrite, NewPage, WriteSet

__all__ = ["EscalationPlanner", "EscalationWorker", "PersonTargets", "person_receiver"]

log = logging.getLogger(__name__)
ACTOR = "escalation"


#: low and info pages of levels that leave ``via`` to the severity matrix go into an email digest this often
DIGEST_INTERVAL = 900.0
#: business hours of the severity matrix's medium pages: Monday to Friday, 09:00 to 18:00 in the user's time zone
BUSINESS_START, BUSINESS_END = 9, 18


def person_receiver(user: str) -> str:
    return f"user:{user}"


def business_hours_start(now: datetime, zone: str | None) -> datetime | None:
    """None within business hours (Mon-Fri 09:00 to 18:00 in ``zone``, default UTC), else when they next begin."""
    tz = ZoneInfo(zone or "UTC")
    local = now.astimezone(tz)
    if local.weekday() < 5 and BUSINESS_START <= local.hour < BUSINESS_END:
        return None
    day = local.date() if local.hour < BUSINESS_START else local.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, BUSINESS_START, tzinfo=tz)
    return start.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PersonTarget:
    user: str
    channel: Channel
    key: str
    recipient: str


@dataclass
class PersonTargets:
    """Per user, the targets a page can go through, by channel."""

    by_user: dict[str, dict[Channel, PersonTarget]] = field(default_factory=dict)

    def add(self, user: str, channel: Channel, key: str, recipient: str) -> None:
        self.by_user.setdefault(user, {})[channel] = PersonTarget(user, channel, key, recipient)

    def reach(self, user: str, channels: Sequence[Channel]) -> list[PersonTarget]:
        own = self.by_user.get(user, {})
        return [own[c] for c in channels if c in own]


def _after(level: EscalationLevel, severity: Severity) -> float | None:
    return level.after(severity)


class EscalationPlanner:
    """Turns a step of a policy into pages and the row's next state (used by the notification planner at the
    incident's opening and by the worker for every later step)."""

    def __init__(
        self,
        policies: Mapping[str, EscalationPolicyConfig],
        receiver_policies: Mapping[str, str],
        people: PersonTargets,
        oncall: Callable[[str, datetime], str | None],
        receiver_pages: Callable[[str, str, EventKind, str, dict[str, Any], datetime, str], list[NewPage]],
        rules: Mapping[str, Sequence[NotificationRule]] | None = None,
        zones: Mapping[str, str] | None = None,
        teams: Mapping[str, TeamConfig] | None = None,
    ) -> None:
        self.policies = policies
        #: receiver name → its policy's name
        self.receiver_policies = receiver_policies
        self.people = people
        #: schedule name, instant → the user on call (None: a gap)
        self.oncall = oncall
        #: (incident, step, kind, severity, data, now, receiver) → the pages of a receiver's own integrations
        self.receiver_pages = receiver_pages
        #: user → notification rules (used by levels without ``via``)
        self.rules = rules or {}
        #: user → IANA time zone of their business hours
        self.zones = zones or {}
        #: team name → the team
        self.teams = teams or {}

    def policy_of(self, receiver: str) -> EscalationPolicyConfig | None:
        name = self.receiver_policies.get(receiver)
        return None if name is None else self.policies.get(name)

    def level_pages(
        self,
        incident_id: str,
        policy: EscalationPolicyConfig,
        level_index: int,
        cycle: int,
        severity: Severity,
        data: dict[str, Any],
        now: datetime,
        step: str,
    ) -> tuple[list[NewPage], list[str]]:
        """The pages of one level, and who they reach (for the timeline)."""
        level = policy.levels[level_index]
        channels = level.channels(severity)
        pages: list[NewPage] = []
        reached: list[str] = []
        payload = {**data, "escalation": {"policy": policy.name, "level": level_index, "cycle": cycle}}
        for target in level.targets:
            if target.receiver is not None:
                pages.extend(self.receiver_pages(incident_id, step, EventKind.TRIGGERED, severity.value, payload,
                                                 now, target.receiver))  # fmt: skip
                reached.append(f"receiver:{target.receiver}")
                continue
            for user in self._users_of(target, now, reached):
                pages.extend(self._person_pages(incident_id, user, level, channels, severity, payload, now, step,
                                                reached))  # fmt: skip
        return pages, reached

    def _users_of(self, target: EscalationTarget, now: datetime, reached: list[str]) -> list[str]:
        """A user; whoever is on call on a schedule; a team's on-call (its schedule), or all its members."""
        if target.user is not None:
            return [target.user]
        team = self.teams.get(target.team) if target.team is not None else None
        schedule = target.schedule or (team.schedule if team is not None else None)
        if schedule is not None:
            user = self.oncall(schedule, now)
            if user is None:
                reached.append(f"schedule:{schedule}: nobody on call")
                return []
            return [user]
        return list(team.members) if team is not None else []

    def _person_pages(
        self,
        incident_id: str,
        user: str,
        level: EscalationLevel,
        channels: tuple[Channel, ...],
        severity: Severity,
        payload: dict[str, Any],
        now: datetime,
        step: str,
        reached: list[str],
    ) -> list[NewPage]:
        rules = self.rules.get(user, ()) if level.via is None else ()
        plan = [(r.via, r.delay) for r in rules] if rules else [(c, 0.0) for c in channels]
        # the seed's matrix, where the level leaves ``via`` to it: medium waits for business hours, low and info
        # go into the email digest
        by_matrix = level.via is None and not rules
        digest = by_matrix and severity in (Severity.LOW, Severity.INFO)
        hold = business_hours_start(now, self.zones.get(user)) if by_matrix and severity is Severity.MEDIUM else None
        pages: list[NewPage] = []
        sent = []
        for rule, (channel, delay) in enumerate(plan):
            reached_by = self.people.reach(user, (channel,))
            if not reached_by:
                continue
            person = reached_by[0]
            receiver = person_receiver(user)
            data = payload if delay <= 0 else {**payload, "unless_acknowledged": True}
            due = now + timedelta(seconds=delay)
            if digest:
                due = next_digest(now, DIGEST_INTERVAL)
            elif hold is not None:
                due = max(due, hold)
            pages.append(
                NewPage(
                    id=uuid7(), idempotency_key=f"{incident_id}/{step}/{receiver}/{person.key}#{rule}",
                    incident_id=incident_id, event=EventKind.TRIGGERED.value, receiver=receiver, target=person.key,
                    channel=person.channel.value, recipient=person.recipient, severity=severity.value, data=data,
                    next_at=due, digest=digest, created_at=now,
                )
            )  # fmt: skip
            label = person.channel.value if delay <= 0 else f"{person.channel.value} after {delay:g}s"
            if digest:
                label += " (digest)"
            elif hold is not None:
                label += f" (business hours: {hold.isoformat()})"
            sent.append(label)
        if sent:
            reached.append(f"user:{user} via {', '.join(sent)}")
        else:
            reached.append(f"user:{user}: no contact for {', '.join(c.value for c, _ in plan)}")
        return pages

    def start(
        self, incident_id: str, receiver: str, severity: Severity, data: dict[str, Any], now: datetime, ws: WriteSet
    ) -> None:
        """The incident opened on ``receiver``: level 0 now, and the timer of level 1."""
        policy = self.policy_of(receiver)
        if policy is None:
            return
        step = "escalation:0.0@opened"
        pages, reached = self.level_pages(incident_id, policy, 0, 0, severity, data, now, step)
        ws.pages.extend(pages)
        after = _after(policy.levels[0], severity)
        next_at = now + timedelta(seconds=after) if after is not None else None
        ws.escalations.append(EscalationWrite(incident_id, receiver, policy.name, "active", 0, 0, severity.value,
                                              next_at, now))  # fmt: skip
        ws.timeline.append((incident_id, now, "escalation_started", ACTOR,
                            {"receiver": receiver, "policy": policy.name, "level": 0, "cycle": 0, "paged": reached,
                             "next_at": None if next_at is None else next_at.isoformat()}))  # fmt: skip

    def step(self, row: EscalationRecord, now: datetime, ws: WriteSet, status: IncidentStatus | None) -> None:
        """The due step of ``row`` (claimed by the worker), given the incident's status now (None: not open)."""
        policy = self.policies.get(row.policy)
        severity = Severity(row.severity)
        due = row.next_at or now
        if status is None or policy is None:
            ws.escalations.append(EscalationWrite(row.incident_id, row.receiver, row.policy, "done", row.level,
                                                  row.cycle, row.severity, None, now))  # fmt: skip
            return
        data: dict[str, Any] = {"actor": ACTOR}
        if row.state == "acknowledged":
            if status is not IncidentStatus.ACKNOWLEDGED:  # resolved meanwhile, or already back to triggered
                ws.escalations.append(EscalationWrite(row.incident_id, row.receiver, row.policy, row.state, row.level,
                                                      row.cycle, row.severity, None, now))  # fmt: skip
                return
            level, cycle, kind = row.level, row.cycle, "ack_timeout"
            change = ws.change(row.incident_id)
            change.status = IncidentStatus.TRIGGERED
            change.updated_at = now
        else:
            if status is not IncidentStatus.TRIGGERED:
                ws.escalations.append(EscalationWrite(row.incident_id, row.receiver, row.policy, row.state, row.level,
                                                      row.cycle, row.severity, None, now))  # fmt: skip
                return
            level, cycle, kind = row.level + 1, row.cycle, "escalated"
            if level >= len(policy.levels):
                level, cycle = 0, row.cycle + 1
            if cycle >= policy.repeat:
                ws.escalations.append(EscalationWrite(row.incident_id, row.receiver, row.policy, "done", row.level,
                                                      row.cycle, row.severity, None, now))  # fmt: skip
                ws.timeline.append((row.incident_id, now, "escalation_exhausted", ACTOR,
                                    {"receiver": row.receiver, "policy": policy.name,
                                     "cycles": policy.repeat}))  # fmt: skip
                return
        step = f"escalation:{cycle}.{level}@{int(due.timestamp() * 1_000_000)}"
        pages, reached = self.level_pages(row.incident_id, policy, level, cycle, severity, data, now, step)
        ws.pages.extend(pages)
        after = _after(policy.levels[level], severity)
        next_at = now + timedelta(seconds=after) if after is not None else None
        ws.escalations.append(EscalationWrite(row.incident_id, row.receiver, row.policy, "active", level, cycle,
                                              row.severity, next_at, now))  # fmt: skip
        event = {"receiver": row.receiver, "policy": policy.name, "level": level, "cycle": cycle, "paged": reached,
                 "next_at": None if next_at is None else next_at.isoformat()}  # fmt: skip
        ws.timeline.append((row.incident_id, now, kind, ACTOR, event))

    def acknowledged(self, incident_id: str, receivers: Sequence[str], now: datetime, ws: WriteSet) -> None:
        """Stops the timers; with an ``ack_timeout`` the incident comes back then."""
        timeouts = [p.ack_timeout_seconds for r in receivers if (p := self.policy_of(r)) is not None]
        if not timeouts:
            return
        timeout = min((t for t in timeouts if t is not None), default=None)
        due = now + timedelta(seconds=timeout) if timeout is not None else None
        ws.escalation_states.append((incident_id, "acknowledged", due, now))

    def resolved(self, incident_id: str, now: datetime, ws: WriteSet) -> None:
        ws.escalation_states.append((incident_id, "done", None, now))


class EscalationWorker:
    """Polls the store for due escalation steps and takes them through the writer."""

    def __init__(
        self,
        claim: Callable[[datetime, datetime], Any],
        planner: EscalationPlanner,
        status_of: Callable[[str], Awaitable[IncidentStatus | None]],
        submit: Callable[[WriteSet], Any],
        unacknowledge: Callable[[str], object],
        poll: float = 0.5,
        lease: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.claim = claim
        self.planner = planner
        self.status_of = status_of
        self.submit = submit
        self.unacknowledge = unacknowledge
        self.poll = poll
        self.lease = lease
        self.steps = 0
        #: the time steps are due by (tests inject a ManualClock and take steps by moving it)
        self.clock = clock or SystemClock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lim-escalations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                taken = await self.run_once()
            except Exception as exc:  # the rows stay due; their lease runs out and they are claimed again
                log.warning("escalation worker: %r", exc)
                taken = 0
            if not taken:
                await asyncio.sleep(self.poll)  # the polling period of the durable timers

    async def run_once(self) -> int:
        now = self.clock.now()
        rows: list[EscalationRecord] = await self.claim(now, now + timedelta(seconds=self.lease))
        for row in rows:
            ws = WriteSet()
            status = await self.status_of(row.incident_id)
            self.planner.step(row, now, ws, status)
            change = ws.changes.get(row.incident_id)
            if change is not None and change.status is IncidentStatus.TRIGGERED:
                self.unacknowledge(row.incident_id)
            await self.submit(ws)
            self.steps += 1
        return len(rows)
