"""Escalation policies in the configuration file (docs/oncall.md#escalation-policies).

```yaml
escalation_policies:
  - name: gpu-infra
    repeat: 3                 # how many times the whole list of levels runs (default 3)
    ack_timeout: 30m          # an acknowledged, unresolved incident goes back to triggered after this
    levels:
      - {targets: [{schedule: gpu-primary}], via: [slack, sms], escalate_after: 5m}
      - {targets: [{user: cara}, {schedule: gpu-secondary}], via: [voice], escalate_after: 10m}
receivers:
  - name: gpu-oncall
    escalation_policy: gpu-infra
```

A level without ``via`` pages by the incident's severity (the seed's matrix): critical → voice, SMS, Slack and
email; high → Slack and email; medium → Slack; low → email. A level without ``escalate_after`` waits by
severity: critical 3 min, high 10 min, medium 30 min; a low incident does not escalate past its first level.
"""

from __future__ import annotations

import msgspec

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.notify.config import Channel, seconds

__all__ = [
    "DEFAULT_AFTER",
    "DEFAULT_VIA",
    "EscalationLevel",
    "EscalationPolicyConfig",
    "EscalationTarget",
    "TeamConfig",
]

#: the seed's severity matrix: how a level without ``via`` pages
DEFAULT_VIA: dict[Severity, tuple[Channel, ...]] = {
    Severity.CRITICAL: (Channel.VOICE, Channel.SMS, Channel.SLACK, Channel.EMAIL),
    Severity.HIGH: (Channel.SLACK, Channel.EMAIL),
    Severity.MEDIUM: (Channel.SLACK,),
    Severity.LOW: (Channel.EMAIL,),
    Severity.INFO: (Channel.EMAIL,),
}
#: ... and how long it waits before the next level (None: no escalation)
DEFAULT_AFTER: dict[Severity, float | None] = {
    Severity.CRITICAL: 180.0,
    Severity.HIGH: 600.0,
    Severity.MEDIUM: 1800.0,
    Severity.LOW: None,
    Severity.INFO: None,
}
_PERSON_CHANNELS = (Channel.SLACK, Channel.EMAIL, Channel.SMS, Channel.VOICE)


class TeamConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A team: its members, and the schedule that says which of them is on call (without one, a page to the team
    goes to every member)."""

    name: str
    members: list[str] = []
    schedule: str | None = None

    def __post_init__(self) -> None:
        if not self.members and self.schedule is None:
            msg = "members: a team needs members or a schedule"
            raise ValueError(msg)


class EscalationTarget(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Exactly one of: a user, whoever is on call on a schedule, a team's on-call (or all its members), or a
    receiver (its integrations, e.g. a team channel)."""

    user: str | None = None
    schedule: str | None = None
    team: str | None = None
    receiver: str | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("user", "schedule", "team", "receiver") if getattr(self, name)]
        if len(given) != 1:
            msg = "user: give exactly one of user, schedule, team, receiver"
            raise ValueError(msg)


class EscalationLevel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    targets: list[EscalationTarget]
    via: list[Channel] | None = None
    escalate_after: str | float | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            msg = "targets: a level needs at least one target"
            raise ValueError(msg)
        for i, channel in enumerate(self.via or ()):
            if channel not in _PERSON_CHANNELS:
                msg = f"via[{i}]: {channel.value!r} cannot reach a person (slack, email, sms, voice)"
                raise ValueError(msg)
        if self.escalate_after is not None:
            seconds("escalate_after", self.escalate_after)

    def channels(self, severity: Severity) -> tuple[Channel, ...]:
        return tuple(self.via) if self.via else DEFAULT_VIA[severity]

    def after(self, severity: Severity) -> float | None:
        if self.escalate_after is not None:
            return seconds("escalate_after", self.escalate_after)
        return DEFAULT_AFTER[severity]


class EscalationPolicyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    name: str
    levels: list[EscalationLevel]
    repeat: int = 3
    ack_timeout: str | float | None = None

    def __post_init__(self) -> None:
        if not self.levels:
            msg = "levels: a policy needs at least one level"
            raise ValueError(msg)
        if self.repeat < 1:
            msg = "repeat: must be at least 1"
            raise ValueError(msg)
        if self.ack_timeout is not None:
            seconds("ack_timeout", self.ack_timeout)

    @property
    def ack_timeout_seconds(self) -> float | None:
        return None if self.ack_timeout is None else seconds("ack_timeout", self.ack_timeout)
