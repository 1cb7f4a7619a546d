"""The whole correlation stage per alert, at 100, 10,000 and 100,000 open incidents: the cost must stay flat.

One round is what the stage does for a batch of 100 new alerts (none a repeat): the batch's features (one Rust
call normalises the titles, one embeds them), then every rule for every alert against the open incidents. The
state is not changed by a round, so every round sees the same incidents. The open incidents are spread as a
storm in one region spreads them over ten models, ten services, a handful of alert names and thousands of nodes,
so the scope keys of the similarity index hold up to a thousand incidents each.

The new alerts are the worst case, and the same at every size: none matches, so each goes through all four
rules; each shares its model and service with open incidents (the similarity rule compares it with the most
candidates it may: ``max_candidates`` per key) but has a new alert name, a new node and a title unlike theirs.
So the cost grows until the candidate bound is reached (with 100 open incidents a scope key holds about one; from
10k on, more than the bound) and is flat from there on.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from loadtest.fleet import MODELS, REGIONS
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.conftest import ALERTNAMES, T0
from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts

SEED = 20261129
NAMES = list(ALERTNAMES)
#: one region's storm: ten services of ten models, 100 scope keys (env, region, model, service), so from 10k open
#: incidents on every key holds more incidents than the candidate bound (64)
SERVICES = 10
REGION = REGIONS[0]
DEPENDENCIES = {f"gw-{i}": [f"svc-{i * 7 % SERVICES}", f"svc-{i * 13 % SERVICES}"] for i in range(200)}


def _alert(rng: random.Random, i: int, at: float) -> Alert:
    name = rng.choice(NAMES)
    service = f"svc-{rng.randrange(SERVICES)}" if rng.random() < 0.9 else f"gw-{rng.randrange(200)}"
    model = rng.choice(MODELS)
    labels = {
        "alertname": name,
        "service": service,
        "model": model,
        "region": REGION,
        "env": "prod",
        "pod": f"{service}-{i}",
        "node": f"gpu-node-{rng.randrange(5000)}",
    }
    return Alert(
        title=f"{name} on {service}: p99 {rng.uniform(0.5, 9):.2f}s for {model}",
        severity=Severity.HIGH,
        action=EventAction.TRIGGER,
        source="prometheus",
        integration="alertmanager",
        event_time=T0 + timedelta(seconds=at),
        identity=None,
        labels=labels,
        service=service,
        model=model,
        region=labels["region"],
        env=labels["env"],
        node=labels["node"],
    )


def _new_alert(rng: random.Random, i: int) -> Alert:
    """An alert no open incident explains, compared with as many of them as the bounds allow (see above)."""
    base = _alert(rng, 10_000_000 + i, 1200.0 + i)
    service = f"svc-{rng.randrange(SERVICES)}"
    labels = {**base.labels, "alertname": f"CanaryCheckFailed{i}", "service": service, "node": f"new-node-{i}"}
    title = f"synthetic canary request {i} failed: HTTP 500 from {service}"
    return Alert(
        title=title, severity=Severity.HIGH, action=EventAction.TRIGGER, source="prometheus",
        integration="alertmanager", event_time=base.event_time, identity=None, labels=labels, service=service,
        model=base.model, region=base.region, env=base.env, node=labels["node"],
    )  # fmt: skip


def _state(open_incidents: int) -> CorrelationState:
    """A state holding ``open_incidents`` incidents of one alert each, opened over the last 20 minutes."""
    rng = random.Random(SEED)
    state = CorrelationState(CorrelationConfig(dependencies=DEPENDENCIES))
    chunk = 10_000
    for start in range(0, open_incidents, chunk):
        n = min(chunk, open_incidents - start)
        alerts = [_alert(rng, start + j, 1200.0 * (start + j) / open_incidents) for j in range(n)]
        for j, feat in enumerate(state.features(alerts, fingerprint_alerts(alerts))):
            state.add_incident(f"inc-{start + j}", feat, alerts[j].event_time.timestamp())
    return state


_STATES: dict[int, CorrelationState] = {}


@pytest.mark.parametrize("open_incidents", [100, 10_000, 100_000], ids=["100", "10k", "100k"])
def test_correlation_stage_per_batch_of_100_new_alerts(
    benchmark: BenchmarkFixture, record_median: None, open_incidents: int
) -> None:
    if open_incidents not in _STATES:
        _STATES[open_incidents] = _state(open_incidents)
    state = _STATES[open_incidents]
    rng = random.Random(SEED + 1)
    batch = [_new_alert(rng, i) for i in range(100)]
    fps = fingerprint_alerts(batch)

    def stage() -> int:
        feats = state.features(batch, fps)
        return sum(1 for feat, alert in zip(feats, batch, strict=True)
                   if state.match(feat, alert.event_time.timestamp()) is not None)  # fmt: skip

    benchmark.group = "correlation stage, 100 new alerts"
    matched = benchmark(stage)
    assert matched == 0
    assert state.open_incidents == open_incidents
