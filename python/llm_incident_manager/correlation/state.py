"""The correlation stage: which open incident, if any, a new alert joins, and the evidence why.

Dedup (``pipeline.dedup``) asks this stage about every alert it would otherwise open an incident for. The rules
run in order and the first that matches wins (docs/correlation.md):

1. ``label_group`` — the alert's ``group_by`` label values equal those of an alert of the incident (Alertmanager's
   grouping: the same symptom on many pods or instances);
2. ``topology`` — it shares a resource label value (``node``, ``gpu``, ``deployment``) with an alert of another
   service, or of no service (the resource itself), in the incident;
3. ``cascade`` — its service depends (per ``dependencies``, up to ``cascade.depth`` edges away) on a service with
   an alert in the incident, about the same region and model where both say;
4. ``similarity`` — the content words of its title are similar to those of one of the incident's titles (cosine
   of the embeddings, or the token-set ratio), and env, region and the scope dimensions agree where both carry
   them.

Vetoes, checked before any rule: ``env`` differs; both carry explicit dedup keys of one source (different keys,
or they would have been one alert); a responder split this alert out of that incident.

Every window is in event time: an incident is a candidate while the alert's event time lies within ``window`` of
the incident's first and last alert. Each alert is compared only with incidents found through an index keyed by
its group key, resource labels, upstream services and scope values, at most ``max_candidates`` per index key (and
for similarity per alert), so the cost per alert does not grow with the number of open incidents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_incident_manager import _core
from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.embedding import Embedder, make_embedder
from llm_incident_manager.domain.alerts import Alert

__all__ = ["CorrelationState", "Features", "Match", "MemberRow", "key_scope"]

#: where an alert is: two alerts of different places are never similar
_PLACE = ("env", "region")
_NPLACE = len(_PLACE)
#: what a cascade's upstream and downstream alerts must agree on where both carry it
_LOCALITY = ("region", "model")
_MEMBERS_PER_SERVICE = 16
#: words that carry no meaning of their own in alert titles: left out of the embedding (not of the fuzzy ratio)
_STOP_WORDS = frozenset(
    [
        "#",
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "at",
        "for",
        "to",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "above",
        "below",
        "over",
        "under",
        "than",
        "exceeds",
        "exceeded",
        "high",
        "low",
        "too",
        "more",
        "less",
        "per",
    ]
)

#: the alert fields a label name falls back to when the labels do not carry it
_DIMENSIONS = ("service", "model", "model_version", "provider", "region", "env", "node")
Key = tuple[Any, ...]


@dataclass(slots=True)
class Features:
    """What correlation reads of one alert."""

    fp: str
    title: str
    norm: str
    dims: dict[str, str]
    labels: dict[str, str]
    key_scope: str | None
    source: str = ""
    #: the normalised title without stop words, masked numbers and the tokens of its own dimension values
    #: (model, service...): what the similarity rule compares
    words: str = ""
    group_key: Key | None = None
    group_window: float = 0.0
    resources: tuple[tuple[str, str], ...] = ()
    vector: bytes = b""
    #: the alert's severity word ("" where unknown: alerts rebuilt from the store)
    severity: str = ""
    #: (env, region, each similarity scope dimension), None where absent: the similarity index's exact key
    scope_key: tuple[str | None, ...] = ()
    #: (region, model), None where absent: what cascade members must not repeat
    locality: tuple[str | None, ...] = ()

    @property
    def env(self) -> str | None:
        return self.dims.get("env")

    @property
    def service(self) -> str | None:
        return self.dims.get("service")


@dataclass(slots=True)
class Match:
    incident_id: str
    rule: str
    score: float
    matched_fp: str
    matched_title: str
    detail: dict[str, Any]

    def evidence(self, fp: str, title: str) -> dict[str, Any]:
        """The ``alert_grouped`` timeline event's data."""
        return {
            "fingerprint": fp,
            "title": title,
            "rule": self.rule,
            "score": round(self.score, 4),
            "matched": {"fingerprint": self.matched_fp, "title": self.matched_title},
            **self.detail,
        }


@dataclass(slots=True)
class MemberRow:
    """An alert of an open incident as the store gives it back at start-up."""

    incident_id: str
    fp: str
    title: str
    labels: dict[str, str]
    dims: dict[str, str]
    key_scope: str | None
    last_seen: float
    source: str = ""


@dataclass(slots=True)
class _Text:
    fp: str
    title: str
    words: str
    vector: bytes
    dims: dict[str, str]
    #: (env, region, then each scope dimension), None where absent
    scope: tuple[str | None, ...]


@dataclass(slots=True)
class _Incident:
    id: str
    first_ts: float
    last_ts: float
    members: dict[str, Features] = field(default_factory=dict)
    envs: set[str] = field(default_factory=set)
    key_scopes: set[str] = field(default_factory=set)
    texts: list[_Text] = field(default_factory=list)
    #: the first member under each group key and each service
    first: dict[Any, Features] = field(default_factory=dict)
    #: service → its first members of distinct region and model (the cascade rule compares with them)
    service_members: dict[str, list[Features]] = field(default_factory=dict)
    #: resource → {service (None for the resource itself) → the first member}
    resources: dict[tuple[str, str], dict[str | None, Features]] = field(default_factory=dict)


class CorrelationState:
    """Open incidents as correlation sees them, with the indexes the rules look them up by."""

    def __init__(
        self,
        config: CorrelationConfig,
        embedder: Embedder | None = None,
        route_group_by: Callable[[Mapping[str, str]], tuple[str, ...] | None] | None = None,
    ) -> None:
        self.config = config
        #: the ``group_by`` of the route an alert goes to (Alertmanager's per-route grouping), or None to keep ours
        self.route_group_by = route_group_by
        self.window = config.window_seconds
        sim = config.similarity
        self.sim_window = config.rule_window(sim.window)
        self.topo_window = config.rule_window(config.topology.window)
        self.cascade_window = config.rule_window(config.cascade.window)
        self.embedder = embedder if embedder is not None else make_embedder(sim)
        self._group_by = tuple(config.group_by)
        self._service_grouping = {
            name: (tuple(g.group_by) if g.group_by is not None else self._group_by, config.rule_window(g.window))
            for name, g in config.services.items()
        }
        self._upstream: dict[str, list[str]] = {}
        self._incidents: dict[str, _Incident] = {}
        self._by_group: dict[Key, dict[str, None]] = {}
        self._by_resource: dict[tuple[str, str], dict[str, None]] = {}
        self._by_service: dict[str, dict[str, None]] = {}
        #: (name, value) → incidents with a text of that scope value; ("", (env, region, every scope value), None
        #: where absent) → incidents with a text of exactly that scope
        self._by_scope: dict[tuple[str, Any], dict[str, None]] = {}
        self._splits: set[tuple[str, str]] = set()
        self._exclude: str | None = None
        self._scope_names = (*_PLACE, *config.similarity.scope)

    # -- features ------------------------------------------------------------------------------------
    def features(self, alerts: Sequence[Alert], fingerprints: Sequence[str]) -> list[Features]:
        """The features of a batch of alerts, computed together (one Rust call normalises, one embeds)."""
        out = []
        for alert, fp in zip(alerts, fingerprints, strict=True):
            dims = {name: value for name in _DIMENSIONS if (value := getattr(alert, name))}
            out.append(Features(fp, alert.title, "", dims, alert.labels, key_scope(alert), alert.source,
                                severity=alert.severity.value))  # fmt: skip
        self._complete(out)
        return out

    def _rows_features(self, rows: Sequence[MemberRow]) -> list[Features]:
        out = [Features(r.fp, r.title, "", r.dims, r.labels, r.key_scope, r.source) for r in rows]
        self._complete(out)
        return out

    def _complete(self, feats: list[Features]) -> None:
        """Normalised titles, content words and vectors for a batch of features: the titles and every dimension
        value are normalised in one Rust call (so a title's tokens and its model's tokens compare), the content
        words embedded in another."""
        texts = [f.title for f in feats]
        spans = []
        for f in feats:
            spans.append((len(texts), len(f.dims)))
            texts.extend(f.dims.values())
        norms = _core.normalize_texts(texts)
        for i, (f, (at, n)) in enumerate(zip(feats, spans, strict=True)):
            f.norm = norms[i]
            scoped = {token for value in norms[at : at + n] for token in value.split()}
            f.words = " ".join(w for w in f.norm.split() if w not in _STOP_WORDS and w not in scoped)
            self._derive(f)
        if self.config.similarity.enabled and feats:
            vectors = self.embedder.embed([f.words for f in feats])
            size = self.embedder.dim * 4
            for i, f in enumerate(feats):
                f.vector = vectors[i * size : (i + 1) * size] if f.words else b""

    def _label(self, feat: Features, name: str) -> str:
        value = feat.labels.get(name)
        if value:
            return value
        if name == "alertname":  # sources without labels: the title (numbers and ids masked) within its source
            return f"{feat.source}: {feat.norm}"
        return feat.dims.get(name, "")

    def _route_group_by(self, feat: Features) -> tuple[str, ...] | None:
        """The group_by of the route the alert goes to, on the labels routing sees (docs/routing.md)."""
        if self.route_group_by is None:
            return None
        labels = {**feat.dims, **feat.labels}
        labels.setdefault("alertname", self._label(feat, "alertname"))
        if feat.severity:
            labels.setdefault("severity", feat.severity)
        return self.route_group_by(labels)

    def _derive(self, feat: Features) -> None:
        feat.scope_key = tuple(map(feat.dims.get, self._scope_names))
        feat.locality = tuple(map(feat.dims.get, _LOCALITY))
        default = self._group_by
        routed = self._route_group_by(feat) if (feat.service or "") not in self._service_grouping else None
        if routed is not None:  # a route's group_by (a per-service override of ours still wins)
            default = routed
        group_by, window = self._service_grouping.get(feat.service or "", (default, self.window))
        if group_by:
            values = tuple(self._label(feat, name) for name in group_by)
            if any(values):
                feat.group_key = (group_by, values)
        feat.group_window = window
        if self.config.topology.enabled:
            feat.resources = tuple(
                (name, value) for name in self.config.topology.labels if (value := self._label(feat, name))
            )

    # -- the rules -----------------------------------------------------------------------------------
    def match(self, feat: Features, event_ts: float, exclude: str | None = None) -> Match | None:
        """The open incident the alert joins, with the evidence, or None. ``exclude`` is never chosen."""
        if not self.config.enabled:
            return None
        self._exclude = exclude
        return (
            self._match_group(feat, event_ts)
            or self._match_topology(feat, event_ts)
            or self._match_cascade(feat, event_ts)
            or self._match_similarity(feat, event_ts)
        )

    def _candidates(
        self, ids: dict[str, None] | None, feat: Features, event_ts: float, window: float
    ) -> Iterator[_Incident]:
        """Incidents of one index entry, most recently opened first, within the window and not vetoed."""
        if not ids:
            return
        limit = self.config.similarity.max_candidates
        for n, incident_id in enumerate(reversed(ids)):
            if n >= limit:
                return
            inc = self._incidents[incident_id]
            if incident_id == self._exclude:
                continue
            if inc.first_ts - window <= event_ts <= inc.last_ts + window and not self._vetoed(inc, feat):
                yield inc

    def _vetoed(self, inc: _Incident, feat: Features) -> bool:
        env = feat.env
        if env is not None and inc.envs and env not in inc.envs:
            return True
        if feat.key_scope is not None and feat.key_scope in inc.key_scopes:
            return True
        return (inc.id, feat.fp) in self._splits

    def _match_group(self, feat: Features, event_ts: float) -> Match | None:
        if feat.group_key is None:
            return None
        for inc in self._candidates(self._by_group.get(feat.group_key), feat, event_ts, feat.group_window):
            member = inc.first[feat.group_key]
            group_by, values = feat.group_key
            return Match(inc.id, "label_group", 1.0, member.fp, member.title,
                         {"group_by": list(group_by), "values": dict(zip(group_by, values, strict=True))})  # fmt: skip
        return None

    def _match_topology(self, feat: Features, event_ts: float) -> Match | None:
        service = feat.service
        for resource in feat.resources:
            for inc in self._candidates(self._by_resource.get(resource), feat, event_ts, self.topo_window):
                for other, member in inc.resources[resource].items():
                    # across services, or with the resource itself: one service's own alerts are label grouping's
                    if other is None or service is None or other != service:
                        return Match(inc.id, "topology", 1.0, member.fp, member.title,
                                     {"label": resource[0], "value": resource[1]})  # fmt: skip
        return None

    def _match_cascade(self, feat: Features, event_ts: float) -> Match | None:
        service = feat.service
        cascade = self.config.cascade
        if service is None or not cascade.enabled or not self.config.dependencies:
            return None
        upstream = self._upstream.get(service)
        if upstream is None:
            upstream = self._upstream[service] = self.config.upstream_of(service, cascade.depth)
        for name in upstream:
            for inc in self._candidates(self._by_service.get(name), feat, event_ts, self.cascade_window):
                # the upstream's alert must be about the same place and model where both say: a failure in one
                # region, or of one model, does not explain a downstream failure of another
                for member in inc.service_members[name]:
                    if _agree(feat.dims, member.dims, _LOCALITY):
                        return Match(inc.id, "cascade", 1.0, member.fp, member.title,
                                     {"upstream": name, "downstream": service})  # fmt: skip
        return None

    def _scope_key(self, dims: dict[str, str]) -> tuple[str | None, ...]:
        """(env, region, then each scope dimension), None where absent: the exact key of the similarity index."""
        return tuple(map(dims.get, self._scope_names))

    def _match_similarity(self, feat: Features, event_ts: float) -> Match | None:
        sim = self.config.similarity
        if not sim.enabled or not feat.words or not feat.vector:
            return None
        exact = feat.scope_key
        if all(value is None for value in exact[_NPLACE:]):
            return None  # no scope dimension: it could match anything
        allowed: set[tuple[str | None, ...]] | None
        if all(value is not None for value in exact):
            # place and every scope dimension present: the texts that agree are exactly those of these values or of
            # these values with some absent (one scope dimension at least), most specific first
            keys: list[tuple[str, Any]] = [("", key) for key in _generalisations(exact)]
            allowed = {key for _, key in keys}
        else:
            # some absent: they agree with any value, so look up by each present one and check the rest per text
            keys = [(name, value) for name, value in zip(sim.scope, exact[_NPLACE:], strict=True) if value is not None]
            allowed = None
        texts: list[tuple[_Incident, _Text]] = []
        seen: set[str] = set()
        budget = sim.max_candidates  # for all keys together: the bound per alert
        window, exclude, splits, incidents = self.sim_window, self._exclude, self._splits, self._incidents
        env, key_scope, fp, dims, names = feat.env, feat.key_scope, feat.fp, feat.dims, sim.scope
        for key in keys:
            ids = self._by_scope.get(key)
            if not ids:
                continue
            for n, incident_id in enumerate(reversed(ids)):
                if n >= sim.max_candidates or budget == 0:
                    break
                if incident_id in seen or incident_id == exclude:
                    continue
                inc = incidents[incident_id]
                if not inc.first_ts - window <= event_ts <= inc.last_ts + window:
                    continue
                # the vetoes, inline: this loop is the stage's hot spot
                if env is not None and inc.envs and env not in inc.envs:
                    continue
                if (key_scope is not None and key_scope in inc.key_scopes) or (splits and (incident_id, fp) in splits):
                    continue
                seen.add(incident_id)
                budget -= 1
                if allowed is not None:
                    texts.extend((inc, t) for t in inc.texts if t.scope in allowed)
                else:
                    texts.extend((inc, t) for t in inc.texts if _scope_agrees(dims, t.dims, names))
        if not texts:
            return None
        dim = self.embedder.dim
        cosines = [0.0] * len(texts)
        for index, score in _core.cosine_topk(feat.vector, b"".join(t.vector for _, t in texts), dim, len(texts))[0]:
            cosines[index] = score
        fuzzy = _core.token_set_scores(feat.words, [t.words for _, t in texts])
        best: tuple[float, float, int] | None = None
        threshold, fuzzy_threshold = sim.threshold, sim.fuzzy_threshold
        for i, (cos, fz) in enumerate(zip(cosines, fuzzy, strict=True)):
            if (cos >= threshold or fz >= fuzzy_threshold) and (best is None or (cos, fz) > best[:2]):
                best = (cos, fz, i)
        if best is None:
            return None
        inc, text = texts[best[2]]
        return Match(inc.id, "similarity", best[0], text.fp, text.title,
                     {"cosine": round(best[0], 4), "fuzzy": round(best[1], 4), "threshold": sim.threshold,
                      "fuzzy_threshold": sim.fuzzy_threshold, "embedding": sim.embedding,
                      "scope": {name: feat.dims[name] for name in sim.scope if name in feat.dims}})  # fmt: skip

    # -- state ---------------------------------------------------------------------------------------
    def add_incident(self, incident_id: str, feat: Features, event_ts: float) -> None:
        self._incidents[incident_id] = _Incident(incident_id, event_ts, event_ts)
        self.add_member(incident_id, feat, event_ts)

    def add_member(self, incident_id: str, feat: Features, event_ts: float) -> None:
        inc = self._incidents[incident_id]
        inc.first_ts = min(inc.first_ts, event_ts)
        inc.last_ts = max(inc.last_ts, event_ts)
        inc.members[feat.fp] = feat
        if feat.env is not None:
            inc.envs.add(feat.env)
        if feat.key_scope is not None:
            inc.key_scopes.add(feat.key_scope)
        for index, key in self._keys(feat):
            index.setdefault(key, {})[incident_id] = None
        if feat.group_key is not None:
            inc.first.setdefault(feat.group_key, feat)
        if feat.service is not None:
            inc.first.setdefault(feat.service, feat)
            members = inc.service_members.setdefault(feat.service, [])
            if len(members) < _MEMBERS_PER_SERVICE and all(m.locality != feat.locality for m in members):
                members.append(feat)
        for resource in feat.resources:
            inc.resources.setdefault(resource, {}).setdefault(feat.service, feat)
        sim = self.config.similarity
        if sim.enabled and feat.vector and feat.words and all(t.words != feat.words for t in inc.texts):
            if len(inc.texts) >= sim.texts_per_incident:
                inc.texts.pop(1)  # keep the first text (what opened it) and the latest ones
            inc.texts.append(_Text(feat.fp, feat.title, feat.words, feat.vector, feat.dims, feat.scope_key))
        # features are kept without the vector: the incident's texts hold the few it compares against
        feat.vector = b""

    def _keys(self, feat: Features) -> Iterator[tuple[dict[Any, dict[str, None]], Any]]:
        if feat.group_key is not None:
            yield self._by_group, feat.group_key
        for resource in feat.resources:
            yield self._by_resource, resource
        if feat.service is not None:
            yield self._by_service, feat.service
        names = self.config.similarity.scope
        exact = feat.scope_key
        for name, value in zip(names, exact[_NPLACE:], strict=True):
            if value is not None:
                yield self._by_scope, (name, value)
        if any(value is not None for value in exact[_NPLACE:]):
            yield self._by_scope, ("", exact)

    def last_activity(self, incident_id: str) -> float | None:
        """The event time of the incident's latest alert, or None when it is not open."""
        inc = self._incidents.get(incident_id)
        return None if inc is None else inc.last_ts

    def touch(self, incident_id: str, event_ts: float) -> None:
        """A repeat of one of the incident's alerts: the window runs from its last event."""
        inc = self._incidents.get(incident_id)
        if inc is not None and event_ts > inc.last_ts:
            inc.last_ts = event_ts

    def remove_incident(self, incident_id: str) -> None:
        inc = self._incidents.pop(incident_id, None)
        if inc is None:
            return
        for feat in inc.members.values():
            self._unindex(incident_id, feat)

    def _unindex(self, incident_id: str, feat: Features) -> None:
        for index, key in self._keys(feat):
            ids = index.get(key)
            if ids is not None:
                ids.pop(incident_id, None)
                if not ids:
                    del index[key]

    def remove_member(self, incident_id: str, fp: str) -> None:
        """The alert left the incident (split out, or superseded): the incident is indexed by the rest."""
        inc = self._incidents.get(incident_id)
        if inc is None:
            return
        gone = inc.members.pop(fp, None)
        if gone is None:
            return
        rest = list(inc.members.values())
        for feat in (*rest, gone):
            self._unindex(incident_id, feat)
        texts = [t for t in inc.texts if t.fp != fp]
        inc.members.clear()
        inc.envs.clear()
        inc.key_scopes.clear()
        inc.first.clear()
        inc.service_members.clear()
        inc.resources.clear()
        for feat in rest:  # their vectors were dropped when they joined, so the texts stay as they are
            self.add_member(incident_id, feat, inc.last_ts)
        inc.texts = texts

    def member(self, incident_id: str, fp: str) -> Features | None:
        inc = self._incidents.get(incident_id)
        return None if inc is None else inc.members.get(fp)

    def split_out(self, incident_id: str, fp: str, new_id: str, event_ts: float) -> Features | None:
        """A responder moved ``fp`` out of ``incident_id`` into the new incident ``new_id``; the pair is
        remembered and never merged again. Returns the alert's features (None when it had none)."""
        self._splits.add((incident_id, fp))
        feat = self.member(incident_id, fp)
        self.remove_member(incident_id, fp)
        if feat is not None:
            if self.config.similarity.enabled and feat.words:
                feat.vector = self.embedder.embed([feat.words])
            self.add_incident(new_id, feat, event_ts)
        return feat

    def load(self, rows: Iterable[MemberRow], splits: Iterable[tuple[str, str]] = ()) -> None:
        """Replaces the state with the alerts of the open incidents (oldest first) and the remembered splits."""
        self._incidents.clear()
        for index in (self._by_group, self._by_resource, self._by_service, self._by_scope):
            index.clear()
        self._splits = set(splits)
        rows = list(rows)
        for row, feat in zip(rows, self._rows_features(rows), strict=True):
            if row.incident_id in self._incidents:
                self.add_member(row.incident_id, feat, row.last_seen)
            else:
                self.add_incident(row.incident_id, feat, row.last_seen)

    @property
    def open_incidents(self) -> int:
        return len(self._incidents)


def key_scope(alert: Alert) -> str | None:
    """The scope of the alert's explicit dedup key (its source, as the fingerprint scopes it), or None when the
    sender gave none. A CloudEvent without a ``dedupkey`` is identified by its event id, which names the event,
    not the problem: that is not an explicit key."""
    identity = alert.identity
    if alert.dedup_key is None or not isinstance(identity, tuple):
        return None
    if alert.integration == "cloudevents" and identity[1].startswith("id:"):
        return None
    return identity[0]


def _agree(a: dict[str, str], b: dict[str, str], names: Sequence[str]) -> bool:
    """Every one of ``names`` that both carry is equal."""
    for name in names:
        x, y = a.get(name), b.get(name)
        if x is not None and y is not None and x != y:
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _generalisations(values: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """``values`` (env and region first) with every subset of them replaced by None, except those that leave no
    scope dimension (after env and region) present; fewest None first. Cached: a fleet has few distinct places
    and scopes, and the 2^n keys of one cost more than the rest of a new alert's match. Callers must not change
    the list."""
    n = len(values)
    out = []
    for mask in range(1 << n):
        key = tuple(None if mask >> i & 1 else v for i, v in enumerate(values))
        if any(v is not None for v in key[_NPLACE:]):
            out.append(key)
    out.sort(key=lambda t: sum(v is None for v in t))
    return out


def _scope_agrees(a: dict[str, str], b: dict[str, str], scope: Sequence[str]) -> bool:
    """Every scope dimension both carry is equal, at least one is shared, and env and region agree where both
    have them."""
    if not _agree(a, b, _PLACE):
        return False
    shared = False
    for name in scope:
        x, y = a.get(name), b.get(name)
        if x is not None and y is not None:
            if x != y:
                return False
            shared = True
    return shared
