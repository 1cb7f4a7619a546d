"""A seeded generator of LLM-serving alert storms with ground truth: the evaluation corpus for correlation.

Each line of the output (JSONL) is one HTTP request, in the order of arrival::

    {"format": "alertmanager" | "pagerduty" | "cloudevents" | "generic",
     "received_at": "2026-11-29T10:00:03.250Z",
     "body": <the JSON body to POST for that format>,
     "truth": ["the true incident of alert 0 of the body", ...]}

``ENDPOINTS`` gives the path and content type of each format. PagerDuty bodies carry the placeholder
``"ROUTING_KEY"``, which the sender replaces with an ingest key. Every alert carries its own event time
(``startsAt``/``endsAt``, ``payload.timestamp``, CloudEvents ``time``, generic ``timestamp``), so a replay at
any speed groups by event time. Alertmanager re-sends an active alert with its original ``startsAt``, as the
real one does; the other senders stamp each repeat with the time they sent it.

The scenarios (``SCENARIOS``; a truth label is ``<kind>-<n>``, with a suffix when one instance holds several
true incidents):

* ``refire``: one alert repeated every 30-60 s with changing numbers, then resolved. Some escalate: the
  ``severity="critical"`` rule fires beside the warning one, a second Alertmanager identity in the same incident.
* ``pods``: one alertname/service/model/env/region firing on 5-20 pods, on one or several GPU nodes.
* ``gpu-node``: ``GPUNodeDown`` or ``GPUXidError`` on a node, then (1-3 min) the model services scheduled on
  it, then the gateway that depends on them (``DEPENDENCIES``, ``benchmarks/corpus.yaml``).
* ``quality``: a quality regression of one model reported by Prometheus, an eval job (generic JSON) and a
  CloudEvents detector, in similar but not identical words.
* ``two-problems``: two unrelated alerts on the same service/model/env/pod/node at the same time (``…a``, ``…b``).
* ``staging-prod``: the same alert in env=prod and env=staging at the same time (``…-prod``, ``…-staging``).
* ``numeric-title``: generic JSON whose title carries the number, without dedup key or alertname label, so
  every repeat is a new identity.
* ``late-refire``: fires, resolves, fires again 2-4 hours later (``…a``, ``…b``).
* ``singleton``: an alert that fires once or twice.
* ``pd-keys``: two PagerDuty dedup keys from one source about two problems of one service (``…a``, ``…b``), and
  one key sent trigger, trigger, resolve (``…c``).

Instances are placed so that the truth stays unambiguous for a correlator configured as in ``corpus.yaml``:
two different true incidents never share, within the correlation window (30 min), a group key (alertname,
service, model, env, region), a node, a GPU or a deployment, except where a scenario means it (``two-problems``;
``staging-prod``, whose halves differ in env only), nor an open explicit dedup key, at any distance. Softer:
unrelated incidents also avoid services one edge of ``DEPENDENCIES`` apart in the same env and region, and the
same alert about the same model. Nothing keeps them from a dependency in *another* region, or two edges away:
that a cascade does not cross regions is for the correlator to know.

``scale`` multiplies the instances of every scenario over the same 6 hours; each step above 1 adds five regions
(``EXTRA_REGIONS``), a larger fleet. From scale 1 to 3 every constraint above holds; beyond, the instances that
find no room drop the soft ones (never the hard ones), and generation slows down.

``python -m benchmarks.corpus --seed 1 --scale 1 --out storm.jsonl`` writes the file and prints a summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import random
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loadtest.fleet import MODELS, REGIONS, SERVICES

__all__ = [
    "DEFAULT_START",
    "DEPENDENCIES",
    "ENDPOINTS",
    "FORMATS",
    "GATEWAY",
    "SCENARIOS",
    "SPAN",
    "WINDOW",
    "Line",
    "alert_actions",
    "generate",
    "kind_of",
    "main",
    "read_jsonl",
    "summary",
    "write_jsonl",
]

#: format → (path, content type) of the request.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "alertmanager": ("/api/v1/integrations/alertmanager", "application/json"),
    "pagerduty": ("/v2/enqueue", "application/json"),
    "cloudevents": ("/api/v1/integrations/cloudevents", "application/cloudevents+json"),
    "generic": ("/api/v1/alerts", "application/json"),
}
FORMATS = tuple(ENDPOINTS)

#: Scenario kinds, the prefix of every truth label; instances per kind at scale 1.
SCENARIOS: dict[str, int] = {
    "gpu-node": 10,
    "pods": 12,
    "late-refire": 12,
    "staging-prod": 12,
    "quality": 12,
    "two-problems": 14,
    "pd-keys": 10,
    "refire": 45,
    "numeric-title": 12,
    "singleton": 380,
}

DEFAULT_START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
#: Event time the instances are spread over.
SPAN = 6 * 3600.0
#: The correlation window of corpus.yaml: instances that must stay apart are kept this far apart.
WINDOW = 30 * 60.0
ROUTING_KEY = "ROUTING_KEY"
#: The end of an explicit key's claim when it is never resolved.
_FOREVER = 1e12
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_RESOLVED_WORDS = frozenset({"resolved", "resolve", "ok", "closed", "recovered"})

# ---------------------------------------------------------------------------------------------------------------
# The fleet: loadtest/fleet.py's models, regions and application services, plus one serving deployment per model
# and the gateway in front of them.

GATEWAY = "llm-gateway"
_EMBEDDING = ("bge-large-en-v1.5", "e5-mistral-7b")


def _slug(model: str) -> str:
    return model.removesuffix("-instruct").replace(".", "-")


#: model → the service that serves it (vLLM, Triton or TEI pods on GPU nodes).
SERVING: dict[str, str] = {
    m: ("tei-" if m in _EMBEDDING else "triton-" if m.startswith(("gemma", "phi")) else "vllm-") + _slug(m)
    for m in MODELS
}
#: model → GPUs per pod (tensor parallelism).
_TP: dict[str, int] = {
    "llama-3.1-70b-instruct": 4, "llama-3.1-8b-instruct": 1, "mixtral-8x22b": 4, "qwen2.5-72b": 4,
    "mistral-large-2": 4, "gemma-2-27b": 2, "phi-3.5-mini": 1, "bge-large-en-v1.5": 1, "e5-mistral-7b": 1,
    "deepseek-v2.5": 8,
}  # fmt: skip
_CHAT_MODELS = (
    "llama-3.1-70b-instruct", "mixtral-8x22b", "qwen2.5-72b", "mistral-large-2", "deepseek-v2.5",
)  # fmt: skip
_SMALL_MODELS = ("llama-3.1-8b-instruct", "phi-3.5-mini", "gemma-2-27b")
_GENERATIVE = _CHAT_MODELS + _SMALL_MODELS
#: application service → the models it calls (the ``model`` label of its alerts).
APPS: dict[str, tuple[str, ...]] = {
    GATEWAY: _GENERATIVE,
    "chat-api": _CHAT_MODELS,
    "completion-api": _SMALL_MODELS,
    "batch-inference": ("deepseek-v2.5", "qwen2.5-72b", "llama-3.1-70b-instruct"),
    "moderation": ("llama-3.1-8b-instruct",),
    "embedding-api": _EMBEDDING,
    "rag-retriever": _EMBEDDING,
    "reranker": ("bge-large-en-v1.5",),
    "tokenizer-svc": _GENERATIVE,
    "finetune-worker": ("llama-3.1-8b-instruct", "mistral-large-2"),
}
assert set(APPS) - {GATEWAY} <= set(SERVICES)

#: service → the services it calls (upstream). Written to corpus.yaml as ``correlation.dependencies``.
DEPENDENCIES: dict[str, list[str]] = {
    GATEWAY: [SERVING[m] for m in _GENERATIVE],
    "chat-api": [GATEWAY, "rag-retriever", "moderation"],
    "completion-api": [GATEWAY],
    "batch-inference": [GATEWAY],
    "moderation": [SERVING["llama-3.1-8b-instruct"]],
    "rag-retriever": ["embedding-api", "reranker"],
    "embedding-api": [SERVING[m] for m in _EMBEDDING],
    "reranker": [SERVING["bge-large-en-v1.5"]],
}
_ADJACENT: dict[str, list[str]] = {}
for _svc, _ups in DEPENDENCIES.items():
    for _up in _ups:
        _ADJACENT.setdefault(_svc, []).append(_up)
        _ADJACENT.setdefault(_up, []).append(_svc)

#: Regions added after fleet.REGIONS, five per scale step above 1: a larger corpus is a larger fleet, so that
#: unrelated incidents still find room apart.
EXTRA_REGIONS = (
    "us-east-2", "eu-west-2", "ap-northeast-1", "us-west-1", "eu-north-1", "ap-south-1", "ca-central-1",
    "eu-west-3", "ap-southeast-2", "sa-east-1", "ap-northeast-2", "eu-south-1", "me-central-1", "af-south-1",
    "ap-east-1",
)  # fmt: skip
_ALL_REGIONS = REGIONS + EXTRA_REGIONS
_DIRECTION = {
    "east": "e",
    "west": "w",
    "north": "n",
    "south": "s",
    "central": "c",
    "northeast": "ne",
    "southeast": "se",
}


def _region_index(region: str) -> int:
    return _ALL_REGIONS.index(region) if region in _ALL_REGIONS else len(_ALL_REGIONS)


def _shard(region: str) -> str:
    """The block of five regions a region belongs to (fleet.REGIONS are block 0)."""
    return str(_region_index(region) // len(REGIONS))


def _region_code(region: str) -> str:
    """``us-east-1`` → ``use1``, ``ap-southeast-1`` → ``apse1``."""
    parts = region.split("-")
    return parts[0] + "".join(_DIRECTION.get(p, p) for p in parts[1:])


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stable_hex(text: str, n: int) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:n]


_K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    ip: str
    node: str
    deployment: str
    gpu: int  # index of its first GPU on the node

    def gpu_uuid(self) -> str:
        return _gpu_uuid(self.node, self.gpu)


def _gpu_uuid(node: str, index: int) -> str:
    h = _stable_hex(f"{node}/{index}", 32)
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where an alert is about. Service-level alerts have no pod; node-level alerts have neither service nor pod."""

    env: str
    region: str
    service: str | None = None
    model: str | None = None
    pod: Pod | None = None
    node: str | None = None
    gpu: int | None = None

    @property
    def cluster(self) -> str:
        return f"{self.env}-{self.region}"

    @property
    def node_name(self) -> str | None:
        return self.pod.node if self.pod else self.node


class _Fleet:
    def __init__(self, scale: int) -> None:
        self.regions = _ALL_REGIONS[: len(REGIONS) * scale]
        grow = max(1, scale - len(EXTRA_REGIONS) // len(REGIONS))
        self.nodes_per_cluster = {"prod": 32 * grow, "staging": 12 * grow}

    def node(self, rng: random.Random, env: str, region: str) -> str:
        k = rng.randrange(self.nodes_per_cluster[env])
        return f"gpu-{'stg-' if env == 'staging' else ''}{_region_code(region)}-{k:03d}"

    def pods(
        self, rng: random.Random, model: str, env: str, region: str, n: int, nodes: Sequence[str] | None = None
    ) -> list[Pod]:
        """``n`` pods of the model's serving deployment, packed onto ``nodes`` (or onto as many random nodes as
        they need)."""
        service = SERVING[model]
        per_node = max(1, 8 // _TP[model])
        if nodes is None:
            count = max(1, min(-(-n // per_node) + rng.randint(0, 2), n, self.nodes_per_cluster[env]))
            nodes = []
            while len(nodes) < count:
                candidate = self.node(rng, env, region)
                if candidate not in nodes:
                    nodes.append(candidate)
        deployment = f"{env}-{region}/{service}"
        replica_set = "".join(_K8S_ALPHABET[int(c, 16) % len(_K8S_ALPHABET)] for c in _stable_hex(deployment, 10))
        out: list[Pod] = []
        used: dict[str, int] = {}
        for i in range(n):
            node = nodes[i % len(nodes)]
            slot = used.get(node, rng.randrange(per_node)) % per_node
            used[node] = slot + 1
            suffix = "".join(rng.choice(_K8S_ALPHABET) for _ in range(5))
            ip = f"10.{16 + _region_index(region)}.{int(_stable_hex(node, 2), 16)}.{10 + slot}"
            out.append(Pod(f"{service}-{replica_set}-{suffix}", ip, node, deployment, slot * _TP[model]))
        return out


# ---------------------------------------------------------------------------------------------------------------
# Alert kinds: what the Prometheus rules, detectors and checks of an LLM-serving platform say.


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    level: str  # "pod" (labels pod/instance/node), "service" or "node" (node/gpu/cluster, no service)
    summary: str  # str.format with v (the formatted value), service, model, pod, node, gpu, region, env
    description: str
    low: float
    high: float
    fmt: str
    job: str
    xid: int = 0
    rising: bool = False  # a duration: starts at ``low``, grows by about ``high`` per report


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("HighP95Latency", "pod", "p95 latency {v}s above 2s on {service}",
             "histogram_quantile(0.95, vllm:e2e_request_latency_seconds) on {pod} has been {v}s for 5m; SLO 2s.",
             2.1, 7.5, ".2f", "vllm"),
        Kind("TimeToFirstTokenHigh", "pod", "TTFT p95 {v}ms above 800ms for {model}",
             "Time to first token p95 on {pod} is {v}ms (threshold 800ms) for 5m.", 850, 4200, ".0f", "vllm"),
        Kind("TokensPerSecondLow", "pod", "Decode throughput {v} tok/s below 25 tok/s for {model} on {pod}",
             "Mean generation throughput per request on {pod} fell to {v} tokens/s.", 3.5, 24, ".1f", "vllm"),
        Kind("GPUMemoryPressure", "pod", "GPU memory {v}% used on {node} GPU {gpu} ({model})",
             "DCGM_FI_DEV_FB_USED / total on {node} GPU {gpu} is {v}% for 10m; OOM risk for {pod}.",
             92, 99.8, ".1f", "dcgm-exporter"),
        Kind("KVCacheUsageHigh", "pod", "KV cache usage {v}% on {pod}",
             "vllm:gpu_cache_usage_perc on {pod} is {v}%; requests are being preempted.", 90, 100, ".0f", "vllm"),
        Kind("QueueDepthHigh", "pod", "{v} requests waiting in the queue of {pod}",
             "vllm:num_requests_waiting on {pod} is {v} (threshold 50) for 5m.", 55, 900, ".0f", "vllm"),
        Kind("OOMKilled", "pod", "{pod} OOMKilled, {v} restarts in 15m",
             "Container vllm of {pod} on {node} was OOMKilled; {v} restarts in the last 15 minutes.",
             1, 6, ".0f", "kube-state-metrics"),
        Kind("HighErrorRate", "service", "5xx rate {v}% on {service} for {model}",
             "{v}% of requests to {service} for {model} failed with 5xx in the last 5m (threshold 2%).",
             2.2, 38, ".1f", "gateway"),
        Kind("RateLimitExceeded", "service", "{v} requests/min rejected with 429 on {service}",
             "{service} rejected {v} requests per minute for {model} with HTTP 429 (tenant rate limits).",
             40, 2600, ".0f", "gateway"),
        Kind("TokenCostSpike", "service", "Token spend {v}x the 7-day baseline on {service} ({model})",
             "Spend rate for {model} on {service} is {v} times its 7-day baseline for 30m.", 2.5, 9.5, ".1f",
             "finops"),
        Kind("HallucinationRateHigh", "service", "Hallucination rate {v}% above 5% for {model}",
             "Share of sampled answers from {model} judged unsupported by their context: {v}% over 1h.",
             5.3, 14, ".1f", "llm-quality"),
        Kind("ToxicityRateHigh", "service", "Toxic output rate {v}% above 0.5% for {model}",
             "Share of {model} outputs flagged by the toxicity classifier: {v}% over 30m.", 0.55, 3.2, ".2f",
             "llm-quality"),
        Kind("QuotaExhaustionSoon", "service", "Token quota {v}% used for {model} on {service}",
             "{service} has used {v}% of its monthly token quota for {model}.", 85, 99.5, ".1f", "finops"),
        Kind("GPUNodeDown", "node", "GPU node {node} NotReady for {v}s",
             "Kubelet on {node} stopped posting status {v}s ago; GPU workloads on it are unavailable.",
             40, 75, ".0f", "kube-state-metrics", rising=True),
        Kind("GPUXidError", "node", "Xid {xid} on {node} GPU {gpu}: {v} errors in 5m",
             "DCGM_FI_DEV_XID_ERRORS on {node} GPU {gpu} reports Xid {xid} ({xid_text}), {v} events in 5m.",
             1, 40, ".0f", "dcgm-exporter", xid=79),
        Kind("GPUTemperatureHigh", "node", "GPU {gpu} on {node} at {v}°C",
             "DCGM_FI_DEV_GPU_TEMP on {node} GPU {gpu} is {v}°C for 10m (throttling above 87°C).",
             86, 97, ".0f", "dcgm-exporter"),
    )
}  # fmt: skip
_POD_KINDS = tuple(k for k, v in KINDS.items() if v.level == "pod")
_SERVICE_KINDS = tuple(k for k, v in KINDS.items() if v.level == "service")
_XIDS = {79: "GPU has fallen off the bus", 48: "double-bit ECC error", 94: "contained ECC error", 119: "GSP timeout"}


def _kind(rng: random.Random, name: str) -> Kind:
    """The kind named, with a random Xid for GPUXidError."""
    kind = KINDS[name]
    return dataclasses.replace(kind, xid=rng.choice(tuple(_XIDS))) if kind.xid else kind


class _Walk:
    """The measured value of an alert: a random walk inside the kind's firing range."""

    def __init__(self, rng: random.Random, kind: Kind) -> None:
        self.rng = rng
        self.kind = kind
        self.value = rng.uniform(kind.low, kind.low + (kind.high - kind.low) * 0.6)

    def next(self) -> float:
        k = self.kind
        if k.rising:
            self.value += k.high * self.rng.uniform(0.8, 1.2)
            return self.value
        value = self.value * self.rng.uniform(0.9, 1.13)
        if value > k.high:  # reflect at the bounds, so that the value keeps moving
            value = max(k.low, 2 * k.high - value)
        elif value < k.low:
            value = min(k.high, 2 * k.low - value)
        self.value = value
        return value

    def text(self) -> str:
        return format(self.next(), self.kind.fmt)


def _text(template: str, kind: Kind, tgt: Target, v: str) -> str:
    pod = tgt.pod
    return template.format(
        v=v,
        service=tgt.service or "",
        model=tgt.model or "",
        pod=pod.name if pod else "",
        node=tgt.node_name or "",
        gpu=pod.gpu if pod else (tgt.gpu if tgt.gpu is not None else 0),
        region=tgt.region,
        env=tgt.env,
        xid=kind.xid,
        xid_text=_XIDS.get(kind.xid, ""),
    )


# ---------------------------------------------------------------------------------------------------------------
# Lines


@dataclass(frozen=True, slots=True)
class Line:
    """One request: its format, arrival time, body and the true incident of each of its alerts."""

    format: str
    received_at: datetime
    body: Any
    truth: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "received_at": _ts(self.received_at),
            "body": self.body,
            "truth": list(self.truth),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Line:
        received = datetime.fromisoformat(obj["received_at"].replace("Z", "+00:00"))
        return cls(obj["format"], received, obj["body"], tuple(obj["truth"]))


def _ts(t: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-29T10:00:03.250Z``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def kind_of(truth: str) -> str:
    """The scenario kind of a truth label (``refire-3`` → ``refire``, ``pd-keys-2a`` → ``pd-keys``)."""
    for kind in sorted(SCENARIOS, key=len, reverse=True):
        if truth.startswith(kind + "-"):
            return kind
    raise ValueError(f"not a corpus truth label: {truth!r}")


def alert_actions(line: Line) -> list[bool]:
    """For each alert of the line, whether it is a trigger (else a resolve), read from the body as the
    adapters read it."""
    body = line.body
    if line.format == "alertmanager":
        return [a.get("status", "firing") != "resolved" for a in body["alerts"]]
    items = body if isinstance(body, list) else [body]
    if line.format == "pagerduty":
        return [e["event_action"] == "trigger" for e in items]
    if line.format == "cloudevents":
        out = []
        for e in items:
            data = e.get("data") or {}
            status = data.get("status") or data.get("state") or e.get("status") or "firing"
            out.append(status.lower() not in _RESOLVED_WORDS)
        return out
    return [a.get("status", "firing") != "resolved" for a in items]


# ---------------------------------------------------------------------------------------------------------------
# Placement: claims keep the truth unambiguous between instances.

_Key = tuple[str, ...]


class _Collision(Exception):
    """An instance being built claims something another instance holds: it is dropped and rebuilt."""


class _Registry:
    def __init__(self) -> None:
        self.hard: dict[_Key, list[tuple[float, float]]] = {}
        self.soft: dict[_Key, list[tuple[float, float]]] = {}

    @staticmethod
    def _overlaps(spans: list[tuple[float, float]] | None, start: float, end: float) -> bool:
        return spans is not None and any(s < end + WINDOW and start < e + WINDOW for s, e in spans)

    def check(self, key: _Key, start: float, end: float, *, hard: bool) -> None:
        if hard:
            if self._overlaps(self.hard.get(key), start, end):
                raise _Collision
        elif key[0] == "svc":
            # services that call each other, in the same env and region
            for other in _ADJACENT.get(key[1], ()):
                if self._overlaps(self.soft.get(("svc", other, *key[2:])), start, end):
                    raise _Collision
        elif self._overlaps(self.soft.get(key), start, end):
            raise _Collision

    def add(self, inst: _Instance) -> None:
        for (key, _truth), span in inst.hard.items():
            self.hard.setdefault(key, []).append(span)
        for (key, _truth), span in inst.soft.items():
            self.soft.setdefault(key, []).append(span)


@dataclass
class _Am:
    """One alert as an Alertmanager group carries it, from start to end (None: still firing at the end)."""

    kind: Kind
    tgt: Target
    truth: str
    start: float
    end: float | None
    severity: str
    walk: _Walk
    labels: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    reported_resolved: bool = False


class _Instance:
    """The lines of one scenario instance and what they claim, before it is placed."""

    def __init__(self, corpus: _Corpus, rng: random.Random, *, strict: bool) -> None:
        self.corpus = corpus
        self.rng = rng
        self.strict = strict
        self.lines: list[tuple[float, str, Any, tuple[str, ...]]] = []
        self.hard: dict[tuple[_Key, str], tuple[float, float]] = {}
        self.soft: dict[tuple[_Key, str], tuple[float, float]] = {}

    # claims ------------------------------------------------------------------------------------------------
    def _claim(self, key: _Key, truth: str, t: float, *, hard: bool) -> None:
        """Extends the instance's span of ``key`` to ``t``; raises _Collision as soon as it overlaps another
        instance's (spans only grow, so an early collision is final)."""
        claims = self.hard if hard else self.soft
        span = claims.get((key, truth))
        if span is not None and span[0] <= t <= span[1]:
            return
        span = (t, t) if span is None else (min(span[0], t), max(span[1], t))
        claims[(key, truth)] = span
        if hard or self.strict:
            self.corpus.registry.check(key, *span, hard=hard)

    def note(self, name: str, tgt: Target, truth: str, *times: float) -> None:
        """Records an alert about ``tgt`` at ``times`` (its group key, node, deployment; softly its name and
        service)."""
        for t in times:
            self._claim(("group", name, tgt.service or "", tgt.model or "", tgt.env, tgt.region), truth, t, hard=True)
            if node := tgt.node_name:
                self._claim(("node", node), truth, t, hard=True)
            if tgt.pod:
                self._claim(("deployment", tgt.pod.deployment), truth, t, hard=True)
            about = tgt.model or tgt.service or tgt.node_name or ""
            self._claim(("name", name, about, _shard(tgt.region)), truth, t, hard=False)
            if tgt.service:
                self._claim(("svc", tgt.service, tgt.env, tgt.region), truth, t, hard=False)

    def note_key(self, scope: str, key: str, truth: str, t: float) -> None:
        """Records an explicit dedup key in use at ``t``: dedup holds it while it is open, whatever the window."""
        self._claim(("key", scope, key), truth, t, hard=True)

    def add(self, fmt: str, at: float, body: Any, truth: Sequence[str]) -> None:
        self.lines.append((at, fmt, body, tuple(truth)))

    def region(self) -> str:
        return self.rng.choice(self.corpus.fleet.regions)

    def delay(self) -> float:
        return round(self.rng.uniform(0.05, 1.8), 3)

    # Alertmanager --------------------------------------------------------------------------------------------
    def am(
        self,
        kind: str | Kind,
        tgt: Target,
        truth: str,
        start: float,
        end: float | None,
        severity: str | None = None,
    ) -> _Am:
        k = KINDS[kind] if isinstance(kind, str) else kind
        sev = severity or self.rng.choice(("warning", "warning", "critical"))
        member = _Am(k, tgt, truth, start, end, sev, _Walk(self.rng, k))
        member.labels = _prom_labels(k, tgt, sev)
        member.fingerprint = _fingerprint(member.labels)
        return member

    def am_group(
        self,
        members: Sequence[_Am],
        first: float,
        interval: tuple[float, float],
        until: float,
        group_by: Sequence[str] = ("alertname", "service", "env", "region"),
    ) -> None:
        """Alertmanager notifications for one alert group: every interval from ``first``, each carrying the
        alerts firing then and those resolved since the last notification, until ``until`` or until every
        alert has been reported resolved."""
        t = first
        while True:
            alerts: list[dict[str, Any]] = []
            truths: list[str] = []
            for m in members:
                if m.start > t or m.reported_resolved:
                    continue
                resolved = m.end is not None and m.end <= t
                v = m.walk.text()
                alerts.append(self._am_alert(m, v, resolved))
                truths.append(m.truth)
                m.reported_resolved = resolved
                self.note(m.kind.name, m.tgt, m.truth, m.start, m.end if resolved and m.end is not None else t)
            if alerts:
                self.add("alertmanager", t + self.delay(), _am_body(alerts, group_by), truths)
            if all(m.reported_resolved for m in members) or t >= until:
                return
            t += self.rng.uniform(*interval)

    def _am_alert(self, m: _Am, v: str, resolved: bool) -> dict[str, Any]:
        k, tgt = m.kind, m.tgt
        return {
            "status": "resolved" if resolved else "firing",
            "labels": m.labels,
            "annotations": {
                "summary": _text(k.summary, k, tgt, v),
                "description": _text(k.description, k, tgt, v),
                "runbook_url": f"https://runbooks.example.internal/llm/{k.name.lower()}",
            },
            "startsAt": self.corpus.ts(m.start),
            "endsAt": self.corpus.ts(m.end) if resolved and m.end is not None else _GO_ZERO_TIME,
            "generatorURL": _generator_url(k.name, tgt.cluster),
            "fingerprint": m.fingerprint,
        }

    # PagerDuty ---------------------------------------------------------------------------------------------
    def pd(
        self,
        kind: Kind,
        tgt: Target,
        truth: str,
        at: float,
        action: str,
        dedup_key: str,
        source: str,
        severity: str,
        v: str,
        summary: str | None = None,
    ) -> None:
        details: dict[str, Any] = {"alertname": kind.name, "env": tgt.env, "region": tgt.region}
        if tgt.service:
            details["service"] = tgt.service
        if tgt.model:
            details["model"] = tgt.model
        if node := tgt.node_name:
            details["node"] = node
        if tgt.pod:
            details["pod"] = tgt.pod.name
        details["value"] = float(v)
        details["description"] = _text(kind.description, kind, tgt, v)
        payload: dict[str, Any] = {
            "summary": summary or _text(kind.summary, kind, tgt, v),
            "source": source,
            "severity": severity,
            "timestamp": self.corpus.ts(at),
            "component": tgt.model or tgt.node_name or kind.job,
            "class": kind.name,
            "custom_details": details,
        }
        if tgt.service:  # PagerDuty's group is the service fallback: a node-level alert has none
            payload["group"] = tgt.service
        if action == "resolve":
            payload = {"summary": payload["summary"], "source": source, "timestamp": payload["timestamp"]}
        body = {
            "routing_key": ROUTING_KEY,
            "event_action": action,
            "dedup_key": dedup_key,
            "client": "Grafana",
            "client_url": f"https://grafana.example.internal/alerting/list?search={kind.name}",
            "payload": payload,
        }
        self.note(kind.name, tgt, truth, at)
        self.note_key("pd", dedup_key, truth, at)
        self.add("pagerduty", at + self.delay(), body, [truth])

    def pd_stream(
        self,
        kind: Kind,
        tgt: Target,
        truth: str,
        times: Sequence[float],
        end: float | None,
        dedup_key: str,
        source: str,
    ) -> None:
        walk = _Walk(self.rng, kind)
        severity = self.rng.choice(("error", "warning", "critical"))
        for t in times:
            self.pd(kind, tgt, truth, t, "trigger", dedup_key, source, severity, walk.text())
        if end is not None:
            self.pd(kind, tgt, truth, end, "resolve", dedup_key, source, severity, walk.text())
        else:  # an open explicit key takes every later trigger of the key, however late
            self.note_key("pd", dedup_key, truth, _FOREVER)

    # CloudEvents -------------------------------------------------------------------------------------------
    def ce(
        self,
        kind: Kind,
        tgt: Target,
        truth: str,
        at: float,
        source: str,
        ce_type: str,
        v: str,
        *,
        dedupkey: str | None,
        resolved: bool = False,
        severity: str = "high",
        summary: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "summary": summary or _text(kind.summary, kind, tgt, v),
            "description": _text(kind.description, kind, tgt, v),
            "severity": severity,
            "status": "resolved" if resolved else "firing",
            "env": tgt.env,
            "region": tgt.region,
        }
        if tgt.model:
            data["model"] = tgt.model
        if tgt.service:
            data["service"] = tgt.service
        if node := tgt.node_name:
            data["node"] = node
        data["labels"] = {"alertname": kind.name} if labels is None else labels
        if tgt.pod:
            data["labels"] = {**data["labels"], "pod": tgt.pod.name}
        data["value"] = float(v)
        data["dashboard_url"] = f"https://grafana.example.internal/d/llm/{kind.name.lower()}"
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": _uuid(self.rng),
            "source": source,
            "type": ce_type,
            "time": self.corpus.ts(at),
            "datacontenttype": "application/json",
        }
        if tgt.service:
            event["subject"] = tgt.service
        if dedupkey:
            event["dedupkey"] = dedupkey
        event["data"] = data
        self.note(kind.name, tgt, truth, at)
        if dedupkey:
            self.note_key(f"ce:{source}", dedupkey, truth, at)
        self.add("cloudevents", at + self.delay(), event, [truth])

    def ce_stream(
        self,
        kind: Kind,
        tgt: Target,
        truth: str,
        times: Sequence[float],
        end: float | None,
        source: str,
        ce_type: str,
        dedupkey: str | None,
    ) -> None:
        walk = _Walk(self.rng, kind)
        severity = self.rng.choice(("high", "warning", "critical"))
        for t in times:
            self.ce(kind, tgt, truth, t, source, ce_type, walk.text(), dedupkey=dedupkey, severity=severity)
        if end is not None:
            self.ce(kind, tgt, truth, end, source, ce_type, walk.text(), dedupkey=dedupkey, resolved=True)
        elif dedupkey:
            self.note_key(f"ce:{source}", dedupkey, truth, _FOREVER)

    # Generic JSON ------------------------------------------------------------------------------------------
    def generic_alert(
        self,
        kind: Kind,
        tgt: Target,
        truth: str,
        at: float,
        v: str,
        *,
        source: str,
        severity: str,
        resolved: bool = False,
        title: str | None = None,
        labels: dict[str, str] | None = None,
        top_level: bool = True,
    ) -> dict[str, Any]:
        """One generic alert. Its identity is stable across repeats when ``labels`` holds ``alertname``."""
        alert: dict[str, Any] = {
            "title": title or _text(kind.summary, kind, tgt, v),
            "description": _text(kind.description, kind, tgt, v),
            "severity": severity,
            "source": source,
            "status": "resolved" if resolved else "firing",
            "timestamp": self.corpus.ts(at),
        }
        if top_level:
            for name in ("service", "model", "env", "region"):
                if value := getattr(tgt, name):
                    alert[name] = value
            if node := tgt.node_name:
                alert["node"] = node
        alert["labels"] = {"alertname": kind.name} if labels is None else labels
        if tgt.pod:
            alert["labels"] = {**alert["labels"], "pod": tgt.pod.name, "deployment": tgt.pod.deployment}
        alert["annotations"] = {"value": v}
        self.note(kind.name, tgt, truth, at)
        return alert

    def generic_stream(
        self, kind: Kind, tgt: Target, truth: str, times: Sequence[float], end: float | None, source: str
    ) -> None:
        walk = _Walk(self.rng, kind)
        severity = self.rng.choice(("high", "medium", "warning", "P2"))
        for t in times:
            body = self.generic_alert(kind, tgt, truth, t, walk.text(), source=source, severity=severity)
            self.add("generic", t + self.delay(), body, [truth])
        if end is not None:
            body = self.generic_alert(
                kind, tgt, truth, end, walk.text(), source=source, severity=severity, resolved=True
            )
            self.add("generic", end + self.delay(), body, [truth])

    # Any format ----------------------------------------------------------------------------------------------
    def stream(
        self,
        fmt: str,
        kind: Kind,
        tgt: Target,
        truth: str,
        start: float,
        end: float | None,
        interval: tuple[float, float],
        until: float | None = None,
        severity: str | None = None,
    ) -> None:
        """One alert repeated every ``interval`` from ``start`` until ``end`` (then resolved) or ``until``."""
        stop = end if end is not None else (until if until is not None else start)
        times = _ticks(self.rng, start, stop, interval)
        if fmt == "alertmanager":
            member = self.am(kind, tgt, truth, start, end, severity)
            self.am_group([member], start + self.rng.uniform(0.5, 30), interval, until=stop + interval[1])
        elif fmt == "pagerduty":
            where = "/".join(x for x in (tgt.service or tgt.node_name, tgt.model, tgt.env, tgt.region) if x)
            key = f"{where}/{kind.name}"
            source = f"{tgt.service or tgt.node_name}.{tgt.cluster}.example.internal"
            self.pd_stream(kind, tgt, truth, times, end, key, source)
        elif fmt == "cloudevents":
            source = f"/monitors/{tgt.cluster}/{kind.job}"
            key = f"{kind.name}/{tgt.service or tgt.node_name}/{tgt.model or '-'}/{tgt.cluster}"
            self.ce_stream(kind, tgt, truth, times, end, source, f"com.example.llm.alert.{kind.name}", key)
        else:
            self.generic_stream(kind, tgt, truth, times, end, source=f"monitor-{kind.job}")


def _ticks(rng: random.Random, start: float, stop: float, interval: tuple[float, float]) -> list[float]:
    out = [start]
    t = start + rng.uniform(*interval)
    while t < stop:
        out.append(t)
        t += rng.uniform(*interval)
    return out


def _prom_labels(kind: Kind, tgt: Target, severity: str) -> dict[str, str]:
    labels = {"alertname": kind.name}
    if kind.level == "node":
        node = tgt.node_name or ""
        labels.update(node=node, cluster=tgt.cluster, env=tgt.env, region=tgt.region)
        if kind.name != "GPUNodeDown":
            index = tgt.gpu if tgt.gpu is not None else 0
            labels.update(gpu=_gpu_uuid(node, index), device=f"nvidia{index}", modelName="NVIDIA H100 80GB HBM3")
        labels["severity"] = severity
        return labels
    labels.update(service=tgt.service or "", model=tgt.model or "", env=tgt.env, region=tgt.region)
    if pod := tgt.pod:
        labels.update(
            cluster=tgt.cluster,
            namespace="inference",
            pod=pod.name,
            instance=f"{pod.ip}:8000",
            node=pod.node,
            deployment=pod.deployment,
        )
        if kind.name == "GPUMemoryPressure":
            labels.update(gpu=pod.gpu_uuid(), device=f"nvidia{pod.gpu}")
    labels["job"] = kind.job
    labels["severity"] = severity
    return {k: v for k, v in labels.items() if v}


@functools.cache
def _generator_url(alertname: str, cluster: str) -> str:
    expr = urllib.parse.quote(f'ALERTS{{alertname="{alertname}"}}')
    return f"http://prometheus.{cluster}.example.internal:9090/graph?g0.expr={expr}&g0.tab=1"


def _fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of the labels, as Alertmanager puts it in the webhook (the service ignores it)."""
    from llm_incident_manager._core import label_fingerprint

    return label_fingerprint(labels)


def _am_body(alerts: list[dict[str, Any]], group_by: Sequence[str]) -> dict[str, Any]:
    first = alerts[0]["labels"]
    common = {k: v for k, v in first.items() if all(a["labels"].get(k) == v for a in alerts[1:])}
    common_ann = {
        k: v for k, v in alerts[0]["annotations"].items() if all(a["annotations"].get(k) == v for a in alerts[1:])
    }
    group = {k: first[k] for k in group_by if k in common}
    env = first.get("env", "prod")
    group_key = '{}/{env="' + env + '"}:{' + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}"
    return {
        "receiver": "lim",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": group,
        "commonLabels": common,
        "commonAnnotations": common_ann,
        "externalURL": f"http://alertmanager.{env}.example.internal:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


# ---------------------------------------------------------------------------------------------------------------
# Scenarios. Each builds one instance from its rng; placement retries with fresh choices when it collides.


def _env(rng: random.Random) -> str:
    return "prod" if rng.random() < 0.8 else "staging"


def _fmt(rng: random.Random, am: float = 0.55, pd: float = 0.15, ce: float = 0.15, gen: float = 0.15) -> str:
    return rng.choices(FORMATS, (am, pd, ce, gen))[0]


def _pod_target(inst: _Instance, env: str, region: str, model: str | None = None) -> Target:
    rng = inst.rng
    model = model or rng.choice(MODELS)
    pod = inst.corpus.fleet.pods(rng, model, env, region, 1)[0]
    return Target(env, region, SERVING[model], model, pod)


def _service_target(rng: random.Random, env: str, region: str, kind: Kind) -> Target:
    if kind.name in ("HallucinationRateHigh", "ToxicityRateHigh"):
        service = rng.choice((GATEWAY, "chat-api", "chat-api", "completion-api", "batch-inference"))
    elif kind.name in ("TokenCostSpike", "QuotaExhaustionSoon"):
        service = rng.choice((GATEWAY, "chat-api", "batch-inference", "embedding-api", "rag-retriever"))
    else:
        service = rng.choice([s for s in APPS if s != "tokenizer-svc"])
    models = APPS[service]
    if kind.name in ("HallucinationRateHigh", "ToxicityRateHigh"):
        models = tuple(m for m in models if m in _GENERATIVE) or _CHAT_MODELS
    return Target(env, region, service, rng.choice(models))


def _any_target(inst: _Instance, kind: Kind, env: str, region: str) -> Target:
    rng = inst.rng
    if kind.level == "pod":
        return _pod_target(inst, env, region)
    if kind.level == "service":
        return _service_target(rng, env, region, kind)
    return Target(env, region, node=inst.corpus.fleet.node(rng, env, region), gpu=rng.randrange(8))


def s_refire(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"refire-{n}"
    kind = KINDS[rng.choice(_POD_KINDS + _SERVICE_KINDS + ("GPUTemperatureHigh",))]
    tgt = _any_target(inst, kind, _env(rng), inst.region())
    duration = rng.uniform(5, 30) * 60
    start = inst.corpus.start_time(duration)
    interval = (rng.uniform(30, 40), rng.uniform(45, 60))
    fmt = _fmt(rng)
    if fmt == "alertmanager" and rng.random() < 0.35:
        # escalation: the critical rule of the same alert starts firing too, a second identity
        warning = inst.am(kind, tgt, truth, start, start + duration, "warning")
        crit_start = start + rng.uniform(0.3, 0.7) * duration
        critical = inst.am(kind, tgt, truth, crit_start, start + duration - rng.uniform(0, 60), "critical")
        inst.am_group([warning, critical], start + rng.uniform(1, 30), interval, until=start + duration + 120)
        return
    inst.stream(fmt, kind, tgt, truth, start, start + duration, interval)


def s_pods(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"pods-{n}"
    model = rng.choice(MODELS)
    env, region = _env(rng), inst.region()
    kind = KINDS[rng.choice(_POD_KINDS)]
    count = rng.randint(5, 20)
    nodes = None
    if rng.random() < 0.3 and count <= 8 // _TP[model]:  # all on one node (small models pack 8 pods per node)
        nodes = [inst.corpus.fleet.node(rng, env, region)]
    pods = inst.corpus.fleet.pods(rng, model, env, region, count, nodes)
    duration = rng.uniform(6, 15) * 60
    start = inst.corpus.start_time(duration + 300)
    severity = rng.choice(("warning", "critical"))
    members = []
    for pod in pods:
        pod_start = start + rng.uniform(0, 180)
        pod_end = start + duration + rng.uniform(-120, 240)
        members.append(
            inst.am(kind, Target(env, region, SERVING[model], model, pod), truth, pod_start, pod_end, severity)
        )
    if rng.random() < 0.8:
        inst.am_group(members, start + 30, (90, 180), until=start + duration + 600)
        return
    # an exporter that posts every pod's alert in one generic array, with alertname + pod as the identity
    walks = {m.tgt.pod.name: m.walk for m in members if m.tgt.pod}
    t = start + 20
    while True:
        active = [m for m in members if m.start <= t and not m.reported_resolved]
        body, truths = [], []
        for m in active:
            resolved = m.end is not None and m.end <= t
            assert m.tgt.pod
            v = walks[m.tgt.pod.name].text()
            at = min(t, m.end) if resolved and m.end else t
            body.append(
                inst.generic_alert(
                    kind, m.tgt, truth, at, v, source="gpu-fleet-exporter", severity=severity, resolved=resolved
                )
            )
            truths.append(truth)
            m.reported_resolved = resolved
        if body:
            inst.add("generic", t + inst.delay(), body, truths)
        if all(m.reported_resolved for m in members):
            return
        t += rng.uniform(90, 180)


def s_gpu_node(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"gpu-node-{n}"
    env = "prod" if rng.random() < 0.9 else "staging"
    region = inst.region()
    fleet = inst.corpus.fleet
    node = fleet.node(rng, env, region)
    # the serving pods scheduled on the node: at most its 8 GPUs
    models = rng.sample([m for m in _GENERATIVE if _TP[m] <= 4], rng.randint(1, 3))
    free = 8
    pods: dict[str, list[Pod]] = {}
    for model in models:
        per = _TP[model]
        count = min(rng.randint(1, 2), free // per)
        if count:
            pods[model] = fleet.pods(rng, model, env, region, count, [node])
            free -= count * per
    failure = _kind(rng, "GPUNodeDown" if rng.random() < 0.6 else "GPUXidError")
    gpu = rng.randrange(8)
    down_for = rng.uniform(8, 30) * 60
    start = inst.corpus.start_time(down_for + 600)
    end = start + down_for
    node_tgt = Target(env, region, node=node, gpu=gpu)
    fmt = rng.choices(("alertmanager", "cloudevents", "pagerduty"), (0.7, 0.15, 0.15))[0]
    interval = (60, 90)
    if fmt == "alertmanager":
        m = inst.am(failure, node_tgt, truth, start, end, "critical")
        inst.am_group([m], start + rng.uniform(5, 30), interval, until=end + 120, group_by=("alertname", "cluster"))
    elif fmt == "cloudevents":
        times = _ticks(rng, start, end, (60, 120))
        kind_word = "xid" if failure.name == "GPUXidError" else "not-ready"
        inst.ce_stream(
            failure, node_tgt, truth, times, end, f"/node-problem-detector/{node_tgt.cluster}",
            f"com.example.gpu.{kind_word}", f"{node}/{kind_word}",
        )  # fmt: skip
    else:
        times = _ticks(rng, start, end, (60, 120))
        inst.pd_stream(
            failure, node_tgt, truth, times, end, f"{node}/{failure.name}", f"{node}.{region}.example.internal"
        )
    # the model services on the node: 1-3 minutes later
    for model, model_pods in pods.items():
        service_start = start + rng.uniform(60, 180)
        service_end = end + rng.uniform(30, 180)
        for kind_name in rng.sample(
            ("HighP95Latency", "TokensPerSecondLow", "TimeToFirstTokenHigh"), rng.randint(1, 2)
        ):
            members = [
                inst.am(kind_name, Target(env, region, SERVING[model], model, pod), truth,
                        service_start + rng.uniform(0, 40), service_end, "critical")
                for pod in model_pods
            ]  # fmt: skip
            inst.am_group(members, service_start + 30, (90, 180), until=service_end + 300)
    # the gateway in front of them, without node
    gateway_start = start + rng.uniform(120, 240)
    gateway_end = end + rng.uniform(60, 240)
    gateway_fmt = "alertmanager" if rng.random() < 0.6 else "pagerduty"
    gw_members = []
    for model in pods:
        tgt = Target(env, region, GATEWAY, model)
        if gateway_fmt == "alertmanager":
            gw_members.append(inst.am("HighErrorRate", tgt, truth, gateway_start + rng.uniform(0, 30), gateway_end))
        else:
            times = _ticks(rng, gateway_start, gateway_end, (90, 240))
            key = f"{GATEWAY}/{env}/{region}/{model}/5xx"
            inst.pd_stream(KINDS["HighErrorRate"], tgt, truth, times, gateway_end, key, f"{GATEWAY}.{tgt.cluster}")
    if gw_members:
        inst.am_group(gw_members, gateway_start + 30, (90, 180), until=gateway_end + 300)


_QUALITY_WORDING = {
    "HallucinationRateHigh": (
        "Hallucination rate {v}% above 5% for {model}",
        "Hallucination rate {v}% above 5% for {model} in {suite}",
        "Hallucination rate at {v}% (threshold 5%) for {model}",
        "{model}: hallucination rate {v}% exceeds 5%",
    ),
    "ToxicityRateHigh": (
        "Toxic output rate {v}% above 0.5% for {model}",
        "Toxicity rate {v}% above 0.5% for {model} in {suite}",
        "Toxic output rate at {v}% (threshold 0.5%) for {model}",
        "{model}: toxic output rate {v}% exceeds 0.5%",
    ),
}


def s_quality(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"quality-{n}"
    kind = KINDS["HallucinationRateHigh" if rng.random() < 0.7 else "ToxicityRateHigh"]
    env, region = ("prod" if rng.random() < 0.85 else "staging"), inst.region()
    model = rng.choice(_GENERATIVE)
    service = rng.choice(("chat-api", GATEWAY) if model in _CHAT_MODELS else ("completion-api", GATEWAY))
    tgt = Target(env, region, service, model)
    duration = rng.uniform(15, 40) * 60
    start = inst.corpus.start_time(duration + 900)
    wording = _QUALITY_WORDING[kind.name]
    suite = rng.choice(("factuality-nightly", "rag-groundedness-v3", "safety-regression"))
    # Prometheus
    m = inst.am(kind, tgt, truth, start, start + duration)
    inst.am_group([m], start + rng.uniform(10, 60), (45, 75), until=start + duration + 120)
    # the eval job: generic JSON, a number in the title, model/env as labels under alias names
    walk = _Walk(rng, kind)
    t = start + rng.uniform(2, 10) * 60
    for _ in range(rng.randint(1, 3)):
        v = walk.text()
        title = wording[rng.choice((0, 1, 3))].format(v=v, model=model, suite=suite)
        labels = {"model_name": model, "environment": env, "suite": suite, "check": kind.name.removesuffix("High")}
        body = inst.generic_alert(
            kind, tgt, truth, t, v, source="eval-runner", severity="high", title=title, labels=labels, top_level=False
        )
        inst.add("generic", t + inst.delay(), body, [truth])
        t += rng.uniform(10, 20) * 60
    # a guardrail detector: CloudEvents, a new id each time
    t = start + rng.uniform(1, 12) * 60
    for _ in range(rng.randint(1, 3)):
        v = walk.text()
        summary = wording[rng.choice((2, 3))].format(v=v, model=model, suite=suite)
        detector = "hallucination" if kind.name.startswith("Hallucination") else "toxicity"
        inst.ce(
            kind, tgt, truth, t, f"/guardrails/{detector}-detector", f"com.example.llm.quality.{detector}_rate",
            v, dedupkey=None, summary=summary, labels={"detector": detector, "window": "1h"},
        )  # fmt: skip
        t += rng.uniform(5, 15) * 60


_UNRELATED_PAIRS = (
    ("HighP95Latency", "TokenCostSpike"),
    ("GPUMemoryPressure", "ToxicityRateHigh"),
    ("TimeToFirstTokenHigh", "HallucinationRateHigh"),
    ("QueueDepthHigh", "TokenCostSpike"),
    ("TokensPerSecondLow", "ToxicityRateHigh"),
    ("KVCacheUsageHigh", "QuotaExhaustionSoon"),
)


def s_two_problems(inst: _Instance, n: int) -> None:
    rng = inst.rng
    first, second = (KINDS[k] for k in rng.choice(_UNRELATED_PAIRS))
    env, region = _env(rng), inst.region()
    tgt = _pod_target(inst, env, region, rng.choice(_GENERATIVE))
    dur_a, dur_b = rng.uniform(10, 30) * 60, rng.uniform(8, 25) * 60
    start = inst.corpus.start_time(max(dur_a, dur_b) + 600)
    start_b = start + rng.uniform(2, 10) * 60
    truth_a, truth_b = f"two-problems-{n}a", f"two-problems-{n}b"
    if rng.random() < 0.5:
        # one Alertmanager route grouped by service: both alerts in the same notifications
        a = inst.am(first, tgt, truth_a, start, start + dur_a)
        b = inst.am(second, tgt, truth_b, start_b, start_b + dur_b)
        inst.am_group(
            [a, b], start + 30, (45, 90), until=max(a.end or 0, b.end or 0) + 120, group_by=("service", "env")
        )
        return
    inst.stream("alertmanager", first, tgt, truth_a, start, start + dur_a, (30, 60))
    fmt = rng.choice(("pagerduty", "cloudevents", "generic"))
    inst.stream(fmt, second, tgt, truth_b, start_b, start_b + dur_b, (60, 180))


def s_staging_prod(inst: _Instance, n: int) -> None:
    rng = inst.rng
    kind = KINDS[rng.choice(_POD_KINDS + _SERVICE_KINDS)]
    region = inst.region()
    model = rng.choice(_GENERATIVE)
    duration = rng.uniform(10, 25) * 60
    start = inst.corpus.start_time(duration + 600)
    fmt = rng.choices(("alertmanager", "generic", "cloudevents"), (0.7, 0.15, 0.15))[0]
    base = _service_target(rng, "prod", region, kind) if kind.level == "service" else None
    for env in ("prod", "staging"):
        truth = f"staging-prod-{n}-{env}"
        if base is not None:
            tgt = Target(env, region, base.service, base.model)
        else:
            tgt = _pod_target(inst, env, region, model)
        env_start = start + rng.uniform(0, 240)
        inst.stream(fmt, kind, tgt, truth, env_start, env_start + duration * rng.uniform(0.7, 1.0), (30, 60))


_NUMERIC = (
    ("QueueDepthHigh", "Queue depth {v} on {service}", (GATEWAY, "chat-api", "embedding-api"), 300, 4000,
     "queue-watch"),
    ("BatchBacklogHigh", "{v} batch jobs pending in {service}", ("batch-inference", "finetune-worker"), 500, 9000,
     "cron-healthcheck"),
    ("ErrorBudgetBurn", "Error budget burn rate {v}x on {service}", ("chat-api", "completion-api", "rag-retriever"),
     6, 40, "slo-checker"),
    ("TokenSpendHigh", "Token spend ${v} in the last hour on {service}", ("batch-inference", "chat-api"), 900, 6000,
     "finops-bot"),
)  # fmt: skip


def s_numeric_title(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"numeric-title-{n}"
    name, template, services, low, high, source = rng.choice(_NUMERIC)
    service = rng.choice(services)
    env, region = ("prod" if rng.random() < 0.85 else "staging"), inst.region()
    kind = Kind(name, "service", template, "", low, high, ".0f" if high > 100 else ".1f", source)
    tgt = Target(env, region, service)
    walk = _Walk(rng, kind)
    t = inst.corpus.start_time(50 * 60)
    severity = rng.choice(("medium", "high", "warning"))
    seen: set[str] = set()
    for _ in range(rng.randint(4, 12)):
        v = walk.text()
        while v in seen:  # a repeated title would be a repeated identity, which dedup folds
            v = walk.text()
        seen.add(v)
        body = {
            "title": template.format(v=v, service=service),
            "severity": severity,
            "source": source,
            "timestamp": inst.corpus.ts(t),
            "labels": {"service": service, "env": env, "region": region, "team": "inference-platform"},
        }
        inst.note(name, tgt, truth, t)
        inst.add("generic", t + inst.delay(), body, [truth])
        t += rng.uniform(1, 5) * 60


def s_late_refire(inst: _Instance, n: int) -> None:
    rng = inst.rng
    kind = KINDS[rng.choice(_POD_KINDS + _SERVICE_KINDS)]
    tgt = _any_target(inst, kind, _env(rng), inst.region())
    fmt = _fmt(rng, 0.55, 0.2, 0.1, 0.15)
    first_dur, second_dur = rng.uniform(5, 20) * 60, rng.uniform(5, 20) * 60
    gap = rng.uniform(2, 4) * 3600
    start = inst.corpus.start_time(first_dur + gap + second_dur + 300)
    second = start + first_dur + gap
    inst.stream(fmt, kind, tgt, f"late-refire-{n}a", start, start + first_dur, (30, 90))
    # the second time it is left firing in a third of the instances
    end = None if rng.random() < 0.33 else second + second_dur
    inst.stream(fmt, kind, tgt, f"late-refire-{n}b", second, end, (30, 90), until=second + second_dur)


def s_singleton(inst: _Instance, n: int) -> None:
    rng = inst.rng
    truth = f"singleton-{n}"
    # a node that goes down is never alone (gpu-node): a lone GPU fault is an Xid or a hot GPU
    kind = _kind(rng, rng.choice([name for name in KINDS if name != "GPUNodeDown"]))
    tgt = _any_target(inst, kind, _env(rng), inst.region())
    t = inst.corpus.start_time(600)
    times = [t] if rng.random() < 0.6 else [t, t + rng.uniform(60, 300)]
    fmt = _fmt(rng, 0.4, 0.2, 0.2, 0.2)
    resolved = rng.random() < 0.3
    end = times[-1] + rng.uniform(60, 300) if resolved else None
    if fmt == "alertmanager":
        m = inst.am(kind, tgt, truth, t, end)
        for tick in times:
            inst.am_group([m], tick + rng.uniform(1, 30), (1, 1), until=tick)
        if end is not None:
            inst.am_group([m], end + rng.uniform(1, 30), (1, 1), until=end + 60)
    elif fmt == "pagerduty":
        where = "/".join(x for x in (tgt.service or tgt.node_name, tgt.model, tgt.env, tgt.region) if x)
        inst.pd_stream(
            kind, tgt, truth, times, end, f"{where}/{kind.name}", f"{tgt.service or tgt.node_name}.{tgt.cluster}"
        )
    elif fmt == "cloudevents":
        key = f"{kind.name}/{tgt.service or tgt.node_name}/{tgt.cluster}" if len(times) > 1 or end else None
        inst.ce_stream(
            kind,
            tgt,
            truth,
            times,
            end,
            f"/monitors/{tgt.cluster}/{kind.job}",
            f"com.example.llm.alert.{kind.name}",
            key,
        )
    else:
        inst.generic_stream(kind, tgt, truth, times, end, source=f"monitor-{kind.job}")


_PD_PROBLEMS = (
    ("HighErrorRate", "5xx-rate"),
    ("RateLimitExceeded", "429s"),
    ("TokenCostSpike", "spend"),
    ("QuotaExhaustionSoon", "quota"),
    ("ToxicityRateHigh", "toxicity"),
)


def s_pd_keys(inst: _Instance, n: int) -> None:
    rng = inst.rng
    env, region = ("prod" if rng.random() < 0.85 else "staging"), inst.region()
    service = rng.choice(("chat-api", GATEWAY, "completion-api", "batch-inference"))
    model = rng.choice(APPS[service])
    tgt = Target(env, region, service, model)
    source = f"{service}.{tgt.cluster}.example.internal"
    (kind_a, slug_a), (kind_b, slug_b) = rng.sample(_PD_PROBLEMS, 2)
    duration = rng.uniform(10, 25) * 60
    start = inst.corpus.start_time(duration + 900)
    for suffix, kind_name, slug, offset in (("a", kind_a, slug_a, 0.0), ("b", kind_b, slug_b, rng.uniform(0, 180))):
        kind = KINDS[kind_name]
        times = _ticks(rng, start + offset, start + offset + duration, (120, 300))
        end = start + offset + duration if rng.random() < 0.7 else None
        inst.pd_stream(kind, tgt, f"pd-keys-{n}{suffix}", times, end, f"{service}-{env}-{region}-{slug}", source)
    # one key sent trigger, trigger, resolve: a different service of the same integration
    other = rng.choice([s for s in ("embedding-api", "rag-retriever", "moderation", "reranker") if s != service])
    other_tgt = Target(env, region, other, rng.choice(APPS[other]))
    kind = KINDS[rng.choice(("HighErrorRate", "RateLimitExceeded"))]
    t = start + rng.uniform(0, duration)
    times = [t, t + rng.uniform(60, 240)]
    inst.pd_stream(
        kind, other_tgt, f"pd-keys-{n}c", times, times[-1] + rng.uniform(120, 600),
        f"{other}-{env}-{region}-{kind.name.lower()}", f"{other}.{other_tgt.cluster}.example.internal",
    )  # fmt: skip


_BUILDERS: dict[str, Callable[[_Instance, int], None]] = {
    "refire": s_refire,
    "pods": s_pods,
    "gpu-node": s_gpu_node,
    "quality": s_quality,
    "two-problems": s_two_problems,
    "staging-prod": s_staging_prod,
    "numeric-title": s_numeric_title,
    "late-refire": s_late_refire,
    "singleton": s_singleton,
    "pd-keys": s_pd_keys,
}
assert set(_BUILDERS) == set(SCENARIOS)

#: Attempts to place an instance with every claim, then with the hard claims only.
_STRICT_ATTEMPTS = 60
_ATTEMPTS = 600


class _Corpus:
    def __init__(self, rng: random.Random, scale: int, start: datetime) -> None:
        self.rng = rng
        self.scale = scale
        self.start = start
        self.fleet = _Fleet(scale)
        self.registry = _Registry()
        self.relaxed = 0

    def ts(self, t: float) -> str:
        return _ts(self.at(t))

    def at(self, t: float) -> datetime:
        return self.start + timedelta(milliseconds=round(t * 1000))

    def start_time(self, duration: float) -> float:
        return round(self.rng.uniform(0, max(0.0, SPAN - duration)), 3)

    def place(self, kind: str, n: int) -> _Instance:
        for attempt in range(_ATTEMPTS):
            strict = attempt < _STRICT_ATTEMPTS
            inst = _Instance(self, random.Random(self.rng.getrandbits(64)), strict=strict)
            try:
                _BUILDERS[kind](inst, n)
            except _Collision:
                continue
            self.relaxed += not strict
            self.registry.add(inst)
            return inst
        raise RuntimeError(f"no room for {kind}-{n}: the fleet is too small for this scale")


def generate(seed: int = 1, scale: int = 1, start: datetime | None = None) -> list[Line]:
    """The corpus for ``seed``: the same seed and scale give the same lines. ``scale`` multiplies the number of
    instances of every scenario; their event times spread over 6 hours from ``start``."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    start = start or DEFAULT_START
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)  # naive: UTC
    corpus = _Corpus(random.Random(seed), scale, start)
    raw: list[tuple[float, int, str, Any, tuple[str, ...]]] = []
    seq = 0
    for kind, count in SCENARIOS.items():
        for n in range(1, count * scale + 1):
            for at, fmt, body, truth in corpus.place(kind, n).lines:
                raw.append((round(at, 3), seq, fmt, body, truth))
                seq += 1
    raw.sort(key=lambda item: (item[0], item[1]))
    return [Line(fmt, corpus.at(at), body, truth) for at, _, fmt, body, truth in raw]


def write_jsonl(lines: Iterable[Line], path: str | Path) -> None:
    with Path(path).open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line.to_json(), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


def read_jsonl(path: str | Path) -> list[Line]:
    with Path(path).open(encoding="utf-8") as f:
        return [Line.from_json(json.loads(text)) for text in f if text.strip()]


def summary(lines: Sequence[Line]) -> dict[str, Any]:
    """Counts of the corpus: requests, alerts, triggers, true incidents and the noise-reduction ceiling
    (1 - true incidents / trigger alerts: what a perfect dedup + correlation would reach)."""
    alerts = triggers = 0
    by_format: dict[str, int] = dict.fromkeys(FORMATS, 0)
    spans: dict[str, list[datetime]] = {}
    for line in lines:
        actions = alert_actions(line)
        alerts += len(actions)
        triggers += sum(actions)
        by_format[line.format] += len(actions)
        for truth in line.truth:
            span = spans.setdefault(truth, [line.received_at, line.received_at])
            span[1] = line.received_at
    incidents = len(spans)
    by_kind: dict[str, int] = dict.fromkeys(SCENARIOS, 0)
    for truth in spans:
        by_kind[kind_of(truth)] += 1
    # most true incidents open at once (first to last request)
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return {
        "lines": len(lines),
        "alerts": alerts,
        "trigger_alerts": triggers,
        "resolve_alerts": alerts - triggers,
        "true_incidents": incidents,
        "ceiling_noise_reduction": round(1 - incidents / triggers, 4) if triggers else 0.0,
        "alerts_by_format": by_format,
        "incidents_by_kind": by_kind,
        "max_concurrent_incidents": peak,
        "first": _ts(lines[0].received_at) if lines else None,
        "last": _ts(lines[-1].received_at) if lines else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None, help="event time of the start, RFC 3339")
    parser.add_argument("--out", type=Path, default=Path("storm.jsonl"))
    args = parser.parse_args(argv)
    lines = generate(args.seed, args.scale, args.start)
    write_jsonl(lines, args.out)
    figures = summary(lines)
    print(f"wrote {args.out}")
    for name, value in figures.items():
        text = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        print(f"{name}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
