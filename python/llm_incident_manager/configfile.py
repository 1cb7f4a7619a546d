"""The configuration file (``LIM_CONFIG``, YAML): a superset of Alertmanager's ``alertmanager.yml``.

An Alertmanager file loads as is: its top-level sections are accepted here and are read by the stages that
implement them (routing, receivers and inhibition come with those stages; until then they are kept and not
acted on). Our own sections are additions; this module reads ``correlation``. An unknown key or a bad value is
rejected at load with the path of the key, e.g. ``correlation.similarity.threshold: must be in (0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.errors import config_field, convert_section
from llm_incident_manager.escalation.config import EscalationPolicyConfig, TeamConfig
from llm_incident_manager.notify.config import NotificationsConfig, ReceiverConfig, UserConfig
from llm_incident_manager.oncall.schedule import ScheduleConfig

if TYPE_CHECKING:
    from llm_incident_manager.routing.time_intervals import NamedTimeInterval
    from llm_incident_manager.routing.tree import Router

__all__ = [
    "MANAGED",
    "ConfigError",
    "FileConfig",
    "load_config",
    "overlay",
    "parse_config",
    "parse_document",
    "read_document",
]


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the path of the bad key."""


class FileConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    correlation: CorrelationConfig = msgspec.field(default_factory=CorrelationConfig)
    notifications: NotificationsConfig = msgspec.field(default_factory=NotificationsConfig)
    users: list[UserConfig] = []
    escalation_policies: list[EscalationPolicyConfig] = []
    schedules: list[ScheduleConfig] = []
    teams: list[TeamConfig] = []
    # Alertmanager's sections, accepted so an alertmanager.yml loads unchanged. ``receivers`` and the root route's
    # ``receiver`` are read (docs/notifications.md); the rest of ``route``, ``inhibit_rules`` and the time
    # intervals come with the routing stage.
    global_: dict[str, Any] | None = msgspec.field(default=None, name="global")
    route: dict[str, Any] | None = None
    receivers: list[ReceiverConfig] = []
    inhibit_rules: list[Any] | None = None
    time_intervals: list[Any] | None = None
    mute_time_intervals: list[Any] | None = None
    templates: list[Any] | None = None

    @property
    def root_receiver(self) -> str | None:
        """The root route's receiver: where an alert no child route catches goes."""
        receiver = (self.route or {}).get("receiver")
        return receiver if isinstance(receiver, str) and receiver else None

    def receiver(self, name: str) -> ReceiverConfig | None:
        return next((r for r in self.receivers if r.name == name), None)

    def check(self) -> None:
        """What the types cannot say: references between sections. Raises ValueError ``path: message``."""
        names: dict[str, int] = {}
        for i, receiver in enumerate(self.receivers):
            if receiver.name in names:
                msg = f"receivers[{i}].name: {receiver.name!r} is already the name of receivers[{names[receiver.name]}]"
                raise ValueError(msg)
            names[receiver.name] = i
        route = self.route or {}
        if self.route is not None and not isinstance(route.get("receiver"), str):
            msg = "route.receiver: is required (the receiver of every alert the routes below do not catch)"
            raise ValueError(msg)
        root = self.root_receiver
        if root is not None and root not in names:
            msg = f"route.receiver: no receiver is named {root!r}"
            raise ValueError(msg)
        for i, receiver in enumerate(self.receivers):
            if receiver.fallback is None:
                continue
            if receiver.fallback not in names:
                msg = f"receivers[{i}].fallback: no receiver is named {receiver.fallback!r}"
                raise ValueError(msg)
            seen = [receiver.name]
            current: str | None = receiver.fallback
            while current is not None:
                if current in seen:
                    msg = (
                        f"receivers[{i}].fallback: the fallbacks go round in a circle: {' -> '.join([*seen, current])}"
                    )
                    raise ValueError(msg)
                seen.append(current)
                current = self.receivers[names[current]].fallback
        own = self.notifications.self_monitoring_receiver
        if own is not None and own not in names:
            msg = f"notifications.self_monitoring_receiver: no receiver is named {own!r}"
            raise ValueError(msg)
        users: set[str] = set()
        for i, user in enumerate(self.users):
            if user.name in users:
                msg = f"users[{i}].name: {user.name!r} is listed twice"
                raise ValueError(msg)
            users.add(user.name)
        schedules: set[str] = set()
        for i, schedule in enumerate(self.schedules):
            if schedule.name in schedules:
                msg = f"schedules[{i}].name: {schedule.name!r} is listed twice"
                raise ValueError(msg)
            schedules.add(schedule.name)
            if self.users:
                named = [(f"layers[{j}].users[{k}]", m) for j, layer in enumerate(schedule.layers)
                         for k, m in enumerate(layer.users)]  # fmt: skip
                named += [(f"overrides[{j}].user", o.user) for j, o in enumerate(schedule.overrides)]
                if schedule.regions is not None:
                    named += [(f"regions.{region}[{k}]", m) for region in ("apac", "emea", "amer")
                              for k, m in enumerate(getattr(schedule.regions, region))]  # fmt: skip
                for where, member in named:
                    if member not in users:
                        msg = f"schedules[{i}].{where}: no user is named {member!r}"
                        raise ValueError(msg)
        self._check_escalation(names, users)
        intervals = self.time_interval_map()
        if self.route is not None:
            self.router(lambda name, at: intervals[name].contains(at))  # builds the tree: raises with the key's path
        from llm_incident_manager.routing.inhibit import build_inhibitor

        build_inhibitor(self.inhibit_rules)

    def interval_names(self) -> list[str]:
        """The names of ``time_intervals`` and ``mute_time_intervals`` (Alertmanager's two spellings)."""
        return [str(entry.get("name")) for entry in (*(self.time_intervals or ()), *(self.mute_time_intervals or ()))
                if isinstance(entry, dict)]  # fmt: skip

    def time_interval_map(self) -> dict[str, NamedTimeInterval]:
        """``time_intervals`` and ``mute_time_intervals`` by name; ValueError naming the key's path."""
        from llm_incident_manager.routing.time_intervals import NamedTimeInterval

        found: dict[str, NamedTimeInterval] = {}
        for section, entries in (("time_intervals", self.time_intervals), ("mute_time_intervals",
                                                                         self.mute_time_intervals)):  # fmt: skip
            for i, raw in enumerate(entries or ()):
                interval = convert_section(raw, NamedTimeInterval, f"{section}[{i}]")
                if interval.name in found:
                    msg = f"{section}[{i}].name: {interval.name!r} is defined twice"
                    raise ValueError(msg)
                found[interval.name] = interval
        return found

    def router(self, in_interval: Callable[[str, datetime], bool] | None = None) -> Router | None:
        """The routing tree of ``route`` (None without one); time intervals from this file unless given."""
        from llm_incident_manager.routing.tree import Router

        if self.route is None:
            return None
        if in_interval is None:
            intervals = self.time_interval_map()

            def in_interval(name: str, at: datetime) -> bool:
                return intervals[name].contains(at)

        return Router.build(self.route, [r.name for r in self.receivers], self.interval_names(), in_interval)

    def _check_escalation(self, receivers: dict[str, int], users: set[str]) -> None:
        teams: set[str] = set()
        for i, team in enumerate(self.teams):
            if team.name in teams:
                msg = f"teams[{i}].name: {team.name!r} is listed twice"
                raise ValueError(msg)
            teams.add(team.name)
            for k, member in enumerate(team.members):
                if member not in users:
                    msg = f"teams[{i}].members[{k}]: no user is named {member!r}"
                    raise ValueError(msg)
            if team.schedule is not None and team.schedule not in self.schedule_names():
                msg = f"teams[{i}].schedule: no schedule is named {team.schedule!r}"
                raise ValueError(msg)
        policies: dict[str, int] = {}
        for i, policy in enumerate(self.escalation_policies):
            if policy.name in policies:
                msg = f"escalation_policies[{i}].name: {policy.name!r} is listed twice"
                raise ValueError(msg)
            policies[policy.name] = i
            for j, level in enumerate(policy.levels):
                for k, target in enumerate(level.targets):
                    where = f"escalation_policies[{i}].levels[{j}].targets[{k}]"
                    if target.user is not None and target.user not in users:
                        msg = f"{where}.user: no user is named {target.user!r}"
                        raise ValueError(msg)
                    if target.receiver is not None and target.receiver not in receivers:
                        msg = f"{where}.receiver: no receiver is named {target.receiver!r}"
                        raise ValueError(msg)
                    if target.schedule is not None and target.schedule not in self.schedule_names():
                        msg = f"{where}.schedule: no schedule is named {target.schedule!r}"
                        raise ValueError(msg)
                    if target.team is not None and target.team not in {t.name for t in self.teams}:
                        msg = f"{where}.team: no team is named {target.team!r}"
                        raise ValueError(msg)
        for i, receiver in enumerate(self.receivers):
            if receiver.escalation_policy is not None and receiver.escalation_policy not in policies:
                msg = f"receivers[{i}].escalation_policy: no escalation policy is named {receiver.escalation_policy!r}"
                raise ValueError(msg)

    def schedule_names(self) -> set[str]:
        return {s.name for s in self.schedules}

    def policy(self, name: str) -> EscalationPolicyConfig | None:
        return next((p for p in self.escalation_policies if p.name == name), None)


def _error(exc: msgspec.ValidationError, source: str) -> ConfigError:
    """``lim.yaml: correlation.window: '3x' is not a duration`` (the key's path: ``errors.config_field``)."""
    path, message = config_field(exc)
    return ConfigError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def parse_config(text: str | bytes, source: str = "<config>") -> FileConfig:
    """Parses and validates a configuration document; raises ConfigError naming the bad key."""
    if isinstance(text, str):
        text = text.encode()
    if not text.strip():
        return FileConfig()
    try:
        config = msgspec.yaml.decode(text, type=FileConfig)
    except msgspec.ValidationError as exc:
        raise _error(exc, source) from None
    except msgspec.DecodeError as exc:
        msg = f"{source}: not valid YAML: {exc}"
        raise ConfigError(msg) from None
    try:
        config.check()
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def load_config(path: str | Path | None) -> FileConfig:
    """The configuration at ``path`` (``LIM_CONFIG``), or the defaults when there is none."""
    if path is None or str(path) == "":
        return FileConfig()
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the configuration file: {exc.strerror}"
        raise ConfigError(msg) from None
    return parse_config(text, str(path))


#: the sections the API manages (``config_objects``), by the kind the store keeps them under
MANAGED = ("users", "schedules", "escalation_policies", "route")


def read_document(path: str | Path | None) -> dict[str, Any]:
    """The configuration file as plain data (an empty document when there is none)."""
    if path is None or str(path) == "":
        return {}
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the configuration file: {exc.strerror}"
        raise ConfigError(msg) from None
    try:
        doc = msgspec.yaml.decode(text) if text.strip() else {}
    except msgspec.DecodeError as exc:
        msg = f"{path}: not valid YAML: {exc}"
        raise ConfigError(msg) from None
    if not isinstance(doc, dict):
        msg = f"{path}: the configuration must be a mapping of sections"
        raise ConfigError(msg)
    return doc


def overlay(document: dict[str, Any], objects: Sequence[tuple[str, str, Any]]) -> dict[str, Any]:
    """The document with the API's objects laid over it: a user, schedule or escalation policy replaces the file's
    one of the same name (or is added); ``route`` replaces the file's routing tree."""
    doc = dict(document)
    for kind in MANAGED[:3]:
        items = [item for item in (doc.get(kind) or []) if isinstance(item, dict)]
        index = {item.get("name"): i for i, item in enumerate(items)}
        for obj_kind, name, body in objects:
            if obj_kind != kind:
                continue
            if name in index:
                items[index[name]] = body
            else:
                index[name] = len(items)
                items.append(body)
        if items or kind in doc:
            doc[kind] = items
    for obj_kind, _name, body in objects:
        if obj_kind == "route":
            doc["route"] = body
    return doc


def parse_document(doc: dict[str, Any], source: str = "<config>") -> FileConfig:
    """As ``parse_config``, for a document already read (the file with the API's objects over it)."""
    try:
        config = msgspec.convert(doc, FileConfig)
    except msgspec.ValidationError as exc:
        raise _error(exc, source) from None
    try:
        config.check()
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config
