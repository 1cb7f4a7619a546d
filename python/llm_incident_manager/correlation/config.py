"""The ``correlation`` section of the configuration file (docs/correlation.md lists every key and default).

Durations are written as in Alertmanager (``30s``, ``10m``, ``1h``) or as a number of seconds.
"""

from __future__ import annotations

import msgspec

from llm_incident_manager.config import parse_duration

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_TOPOLOGY_LABELS",
    "CascadeConfig",
    "CorrelationConfig",
    "ServiceGrouping",
    "SimilarityConfig",
    "TopologyConfig",
]

DEFAULT_GROUP_BY = ("alertname", "service", "model", "env", "region")
DEFAULT_TOPOLOGY_LABELS = ("node", "gpu", "deployment")
_EMBEDDINGS = ("hashing", "semantic")


def _seconds(name: str, value: str | float, *, minimum: float = 0.0) -> float:
    """Seconds of a duration field; ValueError names the field."""
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except ValueError as exc:
        msg = f"{name}: {exc}"
        raise ValueError(msg) from None
    if seconds <= minimum:
        msg = f"{name}: must be longer than {minimum:g}s"
        raise ValueError(msg)
    return seconds


def _labels(name: str, labels: list[str]) -> None:
    for i, label in enumerate(labels):
        if not label or not label.replace("_", "a").isalnum():
            msg = f"{name}[{i}]: {label!r} is not a label name"
            raise ValueError(msg)


class ServiceGrouping(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Label grouping for the alerts of one service (the ``service`` dimension), instead of the default."""

    group_by: list[str] | None = None
    window: str | float | None = None

    def __post_init__(self) -> None:
        if self.group_by is not None:
            _labels("group_by", self.group_by)
        if self.window is not None:
            _seconds("window", self.window)


class TopologyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Resource labels that link alerts of different services (a GPU node and the models it serves)."""

    enabled: bool = True
    labels: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_TOPOLOGY_LABELS))
    window: str | float | None = None

    def __post_init__(self) -> None:
        _labels("labels", self.labels)
        if self.window is not None:
            _seconds("window", self.window)


class CascadeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Downstream alerts join the open incident of a service they depend on (``dependencies``)."""

    enabled: bool = True
    #: how many dependency edges apart the upstream may be: 1 = direct dependencies only
    depth: int = 1
    window: str | float | None = None

    def __post_init__(self) -> None:
        if self.depth < 1:
            msg = "depth: must be at least 1"
            raise ValueError(msg)
        if self.window is not None:
            _seconds("window", self.window)


class SimilarityConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Text similarity of alerts whose scope agrees (cross-source reports of one problem)."""

    enabled: bool = True
    #: cosine similarity of the text embeddings at or above which an alert joins (the seed's 0.85)
    threshold: float = 0.85
    #: normalised title similarity (Indel ratio, 0..1) at or above which an alert joins
    fuzzy_threshold: float = 0.9
    #: "hashing" (feature hashing in Rust, no model) or "semantic" (the `semantic` extra: all-MiniLM-L6-v2)
    embedding: str = "hashing"
    #: dimension of the hashing embedding
    dim: int = 256
    #: dimensions that must agree where both alerts carry them; at least one must be present to compare
    scope: list[str] = msgspec.field(default_factory=lambda: ["model", "service"])
    #: open incidents compared per alert, most recently opened first
    max_candidates: int = 64
    #: distinct texts kept per incident to compare against
    texts_per_incident: int = 8
    window: str | float | None = None

    def __post_init__(self) -> None:
        for name, value in (("threshold", self.threshold), ("fuzzy_threshold", self.fuzzy_threshold)):
            if not 0.0 < value <= 1.0:
                msg = f"{name}: must be in (0, 1]"
                raise ValueError(msg)
        if self.embedding not in _EMBEDDINGS:
            msg = f"embedding: {self.embedding!r} is not one of {', '.join(_EMBEDDINGS)}"
            raise ValueError(msg)
        if not 8 <= self.dim <= 4096:
            msg = "dim: must be between 8 and 4096"
            raise ValueError(msg)
        for i, name in enumerate(self.scope):
            if name not in ("model", "service", "region", "node", "provider"):
                msg = f"scope[{i}]: {name!r} is not one of model, service, region, node, provider"
                raise ValueError(msg)
        if not self.scope:
            msg = "scope: name at least one dimension (model, service, ...)"
            raise ValueError(msg)
        if self.max_candidates < 1:
            msg = "max_candidates: must be at least 1"
            raise ValueError(msg)
        if self.texts_per_incident < 1:
            msg = "texts_per_incident: must be at least 1"
            raise ValueError(msg)
        if self.window is not None:
            _seconds("window", self.window)


class CorrelationConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    enabled: bool = True
    #: how long after an incident's last alert (event time) a new alert may still join it
    window: str | float = "30m"
    group_by: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_GROUP_BY))
    services: dict[str, ServiceGrouping] = {}
    topology: TopologyConfig = msgspec.field(default_factory=TopologyConfig)
    #: service → the services it depends on (upstream); an upstream incident absorbs downstream alerts
    dependencies: dict[str, list[str]] = {}
    cascade: CascadeConfig = msgspec.field(default_factory=CascadeConfig)
    similarity: SimilarityConfig = msgspec.field(default_factory=SimilarityConfig)

    def __post_init__(self) -> None:
        _seconds("window", self.window)
        _labels("group_by", self.group_by)
        for service, upstream in self.dependencies.items():
            if service in upstream:
                msg = f"dependencies.{service}: a service cannot depend on itself"
                raise ValueError(msg)

    # -- resolved values ---------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> float:
        return _seconds("window", self.window)

    def rule_window(self, value: str | float | None) -> float:
        return self.window_seconds if value is None else _seconds("window", value)

    def upstream_of(self, service: str, depth: int | None = None) -> list[str]:
        """The services ``service`` depends on, directly or through others up to ``depth`` edges away (all when
        None), nearest first; cycles allowed."""
        seen: dict[str, None] = {}
        frontier = list(self.dependencies.get(service, ()))
        level = 0
        while frontier and (depth is None or level < depth):
            level += 1
            nxt: list[str] = []
            for name in frontier:
                if name != service and name not in seen:
                    seen[name] = None
                    nxt.extend(self.dependencies.get(name, ()))
            frontier = nxt
        return list(seen)
