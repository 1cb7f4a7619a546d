"""Alertmanager's routing tree (docs/routing.md): which receivers an alert goes to.

An alert enters at the root, which always matches. A child route matches when all its matchers match the alert's
labels (``routing.labels.routing_labels``); the alert goes down the first matching child, and on to later siblings
only while the matching child says ``continue: true``. A route with no matching child is where the alert ends.
``receiver`` and ``group_by`` are inherited from the parent when a route leaves them out. A route whose
``mute_time_intervals`` contains the moment, or whose ``active_time_intervals`` do not, is muted: it still
catches the alert (siblings are not tried unless it continues), but nobody is paged through it. This is
Alertmanager's algorithm (dispatch/route.go), so an ``alertmanager.yml`` routes here as it does there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from llm_incident_manager.errors import convert_section
from llm_incident_manager.routing.matchers import Matcher, MatcherError, from_legacy, matches_all, parse_matchers

__all__ = ["Route", "RouteConfig", "Router", "RoutingError"]


class RoutingError(ValueError):
    """A route that cannot be built; the message starts with the key's path."""


class RouteConfig(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True, rename={"continue_": "continue"}
):
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    matchers: list[str] = []
    match: dict[str, str] | None = None
    match_re: dict[str, str] | None = None
    continue_: bool = False
    routes: list[RouteConfig] = []
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []


@dataclass(slots=True)
class Route:
    """A compiled route: its own matchers, what it inherited, and its children."""

    path: str
    receiver: str
    matchers: list[Matcher]
    group_by: list[str] | None
    continue_: bool
    mute: list[str]
    active: list[str]
    #: seconds between notifications of alerts added to one group (inherited; Alertmanager's default 5m)
    group_interval: float = 300.0
    routes: list[Route] = field(default_factory=list)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert (already matched by this one) ends at, in order."""
        found: list[Route] = []
        for child in self.routes:
            if not matches_all(child.matchers, labels):
                continue
            found.extend(child.match(labels))
            if not child.continue_:
                break
        return found or [self]


#: Alertmanager's default ``group_interval``
DEFAULT_GROUP_INTERVAL = 300.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def _duration(text: str, where: str) -> float:
    """A Prometheus duration (``5m``, ``1h30m``, ``250ms``) in seconds, > 0."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise RoutingError(f"{where}: {text!r} is not a duration (like 30s, 5m, 1h30m)")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise RoutingError(f"{where}: must be longer than 0s")
    return seconds


def _compile(cfg: RouteConfig, path: str, parent: Route | None, receivers: set[str], intervals: set[str]) -> Route:
    matchers: list[Matcher] = []
    for i, text in enumerate(cfg.matchers):
        try:
            matchers.extend(parse_matchers(text))
        except MatcherError as exc:
            raise RoutingError(f"{path}.matchers[{i}]: {exc}") from None
    try:
        matchers.extend(from_legacy(cfg.match, cfg.match_re))
    except MatcherError as exc:
        raise RoutingError(f"{path}.match_re: {exc}") from None
    if parent is None and (matchers or cfg.continue_ or cfg.mute_time_intervals or cfg.active_time_intervals):
        raise RoutingError(
            f"{path}: the root route matches every alert: it takes no matchers, continue or time intervals"
        )
    receiver = cfg.receiver or (parent.receiver if parent is not None else None)
    if receiver is None:
        raise RoutingError(f"{path}.receiver: is required on the root route")
    if receiver not in receivers:
        raise RoutingError(f"{path}.receiver: no receiver is named {receiver!r}")
    for key, names in (("mute_time_intervals", cfg.mute_time_intervals), ("active_time_intervals",
                                                                          cfg.active_time_intervals)):  # fmt: skip
        for i, name in enumerate(names):
            if name not in intervals:
                raise RoutingError(f"{path}.{key}[{i}]: no time interval is named {name!r}")
    interval = parent.group_interval if parent is not None else DEFAULT_GROUP_INTERVAL
    if cfg.group_interval is not None:
        interval = _duration(cfg.group_interval, f"{path}.group_interval")
    route = Route(
        path=path,
        receiver=receiver,
        matchers=matchers,
        group_by=cfg.group_by if cfg.group_by is not None else (parent.group_by if parent is not None else None),
        continue_=cfg.continue_,
        mute=list(cfg.mute_time_intervals),
        active=list(cfg.active_time_intervals),
        group_interval=interval,
    )
    route.routes = [_compile(child, f"{path}.routes[{i}]", route, receivers, intervals)
                    for i, child in enumerate(cfg.routes)]  # fmt: skip
    return route


class Router:
    """The compiled tree and the time intervals its routes name."""

    def __init__(self, root: Route, in_interval: Callable[[str, datetime], bool]) -> None:
        self.root = root
        self._in_interval = in_interval

    @classmethod
    def build(
        cls,
        route: Mapping[str, Any],
        receivers: Sequence[str],
        interval_names: Sequence[str],
        in_interval: Callable[[str, datetime], bool],
    ) -> Router:
        """Raises RoutingError naming the key's path (``route.routes[2].matchers[0]: unknown operator "=~~"``)."""
        try:
            cfg = convert_section(route, RouteConfig, "route")
        except ValueError as exc:
            raise RoutingError(str(exc)) from None
        return cls(_compile(cfg, "route", None, set(receivers), set(interval_names)), in_interval)

    def routes(self, labels: Mapping[str, str]) -> list[Route]:
        return self.root.match(labels)

    def group_by(self, labels: Mapping[str, str]) -> tuple[str, ...] | None:
        """The grouping of the first route the alert ends at (inherited from its parents), for correlation's label
        rule: None when no route sets one (ours stays), ``()`` for Alertmanager's ``['...']`` (every label set its
        own group: no label grouping)."""
        found = self.routes(labels)[0].group_by
        if found is None:
            return None
        return () if "..." in found else tuple(found)

    def group_interval(self, labels: Mapping[str, str]) -> float:
        """Seconds between notifications of alerts added to the alert's group: its first route's (inherited)."""
        return self.routes(labels)[0].group_interval

    def muted(self, route: Route, at: datetime) -> bool:
        if any(self._in_interval(name, at) for name in route.mute):
            return True
        return bool(route.active) and not any(self._in_interval(name, at) for name in route.active)

    def receivers(self, labels: Mapping[str, str], at: datetime) -> list[str]:
        """The receivers the alert is paged through at ``at`` (muted routes left out), each once, in order."""
        return list(dict.fromkeys(r.receiver for r in self.routes(labels) if not self.muted(r, at)))
