"""Shared inputs for the benchmarks, and a summary of median ratios computed in the same run.

Each comparison is one pytest-benchmark group holding our implementation and the obvious alternative, fed the
same deterministic input. The inputs look like the alert stream of an LLM-serving platform (the vocabulary of
the peer load generator in /work/shared/tools/alertmanager-peer/loadgen.py and of loadtest/locustfile.py):
8 labels per alert (alertname, service, model, model_version, region, env, instance, severity), 3 annotations.

With ``--benchmark-enable`` (``make bench``) the end of the run prints, per group, the median of each
implementation and the alternative's median divided by ours, so the ratio always comes from one run on one
machine. With benchmarks disabled (the default addopts) every test runs its function once and checks the
result, which makes ``pytest benchmarks -q`` a quick smoke run.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from loadtest.fleet import MODELS, REGIONS, SERVICES
from pytest_benchmark.fixture import BenchmarkFixture

#: The parametrize ids of our implementations; the other id of a group is the alternative it is compared with.
OURS = ("rust", "msgspec", "wire", "alert_counts")

_MEDIANS: dict[str, dict[str, float]] = {}

BATCH = 100
SEED = 20261129

ALERTNAMES: dict[str, tuple[int, tuple[str, ...]]] = {
    # name: (weight, severities seen with it)
    "ModelLatencyP99High": (20, ("warning", "warning", "warning", "critical")),
    "TokenCostSpike": (10, ("warning",)),
    "HallucinationRateHigh": (6, ("warning", "warning", "critical")),
    "GPUMemoryHigh": (16, ("warning", "warning", "warning", "critical")),
    "GPUTempHigh": (8, ("warning", "warning", "critical")),
    "OOMKilled": (6, ("critical",)),
    "RateLimitExceeded": (24, ("info", "warning", "warning")),
    "QuotaExhaustionSoon": (10, ("warning", "warning", "critical")),
}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_labels(rng: random.Random, n: int) -> list[dict[str, str]]:
    """``n`` distinct label sets of 8 labels, as Prometheus rules for an LLM-serving fleet would give."""
    names = list(ALERTNAMES)
    weights = [ALERTNAMES[name][0] for name in names]
    out = []
    for k in range(n):
        alertname = rng.choices(names, weights)[0]
        service = rng.choice(SERVICES)
        model = rng.choice(MODELS)
        version = f"{model.split('-')[0]}-{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}"
        out.append(
            {
                "alertname": alertname,
                "service": service,
                "model": model,
                "model_version": version,
                "region": rng.choice(REGIONS),
                "env": rng.choices(("prod", "staging"), (8, 2))[0],
                "instance": f"{service}-{k:07d}-{rng.getrandbits(20):05x}:8000",
                "severity": rng.choice(ALERTNAMES[alertname][1]),
            }
        )
    return out


def make_keys(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` explicit ``(scope, dedup_key)`` identities as the generic, PagerDuty and CloudEvents adapters form them."""
    out = []
    for k in range(n):
        service = rng.choice(SERVICES)
        model = rng.choice(MODELS)
        kind = k % 3
        if kind == 0:
            out.append(
                ("generic:prometheus", f"{service}/{model}/{rng.choice(REGIONS)}/{rng.choice(list(ALERTNAMES))}")
            )
        elif kind == 1:
            out.append((f"pd:{rng.getrandbits(128):032x}", f"{service}-{model}-{rng.getrandbits(32):08x}"))
        else:
            out.append((f"ce:/llm-evals/{service}", f"id:{rng.getrandbits(128):032x}"))
    return out


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_alertmanager_webhook(rng: random.Random, labels: list[dict[str, str]]) -> bytes:
    """An Alertmanager webhook (payload version 4) holding one alert per label set, as Alertmanager sends it."""
    from llm_incident_manager.pipeline.reference import label_fingerprint

    alerts = []
    for i, lab in enumerate(labels):
        starts = T0 - timedelta(seconds=rng.randint(0, 3600), milliseconds=rng.randint(0, 999))
        resolved = i % 10 == 9
        query = urllib.parse.quote(f'ALERTS{{alertname="{lab["alertname"]}"}}')
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": lab,
                "annotations": {
                    "summary": f"{lab['alertname']} on {lab['model']} in {lab['region']}",
                    "description": f"{lab['alertname']} for {lab['model_version']} on {lab['instance']} "
                    f"is at {rng.uniform(1, 5000):.1f}, above its threshold for more than 5m.",
                    "runbook_url": f"https://runbooks.example.internal/llm/{lab['alertname'].lower()}",
                },
                "startsAt": _rfc3339(starts),
                "endsAt": _rfc3339(T0) if resolved else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.example.internal:9090/graph?g0.expr={query}&g0.tab=1",
                "fingerprint": label_fingerprint(lab),
            }
        )
    body = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "lim",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.internal:9093",
        "alerts": alerts,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture(scope="session")
def label_sets() -> list[dict[str, str]]:
    return make_labels(random.Random(SEED), BATCH)


@pytest.fixture(scope="session")
def explicit_keys() -> list[tuple[str, str]]:
    return make_keys(random.Random(SEED + 1), BATCH)


@pytest.fixture(scope="session")
def webhook_body(label_sets: list[dict[str, str]]) -> bytes:
    return make_alertmanager_webhook(random.Random(SEED + 2), label_sets)


@pytest.fixture
def record_median(benchmark: BenchmarkFixture) -> Iterator[None]:
    """Keeps the median of this test's benchmark, by group and implementation, for the ratio summary."""
    yield
    if benchmark.enabled and benchmark.stats:
        _MEDIANS.setdefault(benchmark.group, {})[str(benchmark.param)] = benchmark.stats.stats.median


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds / 1e-9:.1f} ns"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _MEDIANS:
        return
    terminalreporter.write_sep("-", "median ratios (alternative / ours), same run")
    for group in sorted(_MEDIANS):
        medians = _MEDIANS[group]
        ours = next((name for name in medians if name in OURS), None)
        others = [name for name in medians if name not in OURS]
        if ours is not None and len(others) == 1:
            alternative = others[0]
            ratio = medians[alternative] / medians[ours]
            terminalreporter.write_line(
                f"{group}: {ours} {_fmt(medians[ours])}, {alternative} {_fmt(medians[alternative])}, "
                f"{alternative}/{ours} = {ratio:.1f}x"
            )
        else:
            terminalreporter.write_line(f"{group}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(medians.items())))
