"""The Rust fingerprint kernel against the pure-Python reference (FNV-1a 64 in Python, hashlib SHA-256).

One group per comparison; both sides get the same input and must give the same output. The inputs are the
batch shapes of the pipeline: one ingest request of 100 alerts is one ``fingerprint_batch`` call.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from llm_incident_manager import _core
from llm_incident_manager.pipeline import reference

Identity = dict[str, str] | tuple[str, str]

#: prometheus/common's own test vector for model.LabelSet.Fingerprint (rust/src/fingerprint.rs checks it too).
PROMETHEUS_VECTOR = ({"name": "garland, briggs", "fear": "love is not enough"}, "507a62d79ee76c9a")

BATCH = pytest.mark.parametrize(
    "fingerprint_batch", [_core.fingerprint_batch, reference.fingerprint_batch], ids=["rust", "python"]
)
LABELS = pytest.mark.parametrize(
    "label_fingerprint", [_core.label_fingerprint, reference.label_fingerprint], ids=["rust", "python"]
)
KEY = pytest.mark.parametrize(
    "key_fingerprint", [_core.key_fingerprint, reference.key_fingerprint], ids=["rust", "python"]
)


def _expected(items: list[Identity]) -> list[str]:
    """The fingerprints both implementations agree on (checked here, outside the timed part)."""
    rust, python = _core.fingerprint_batch(items), reference.fingerprint_batch(items)
    assert rust == python
    return rust


def test_prometheus_vector() -> None:
    labels, fingerprint = PROMETHEUS_VECTOR
    assert _core.label_fingerprint(labels) == reference.label_fingerprint(labels) == fingerprint


@pytest.mark.benchmark(group="fingerprint_batch: 100 Alertmanager label sets (8 labels)")
@pytest.mark.usefixtures("record_median")
@BATCH
def test_batch_of_label_sets(
    benchmark: BenchmarkFixture,
    fingerprint_batch: Callable[[list[Identity]], list[str]],
    label_sets: list[dict[str, str]],
) -> None:
    items: list[Identity] = list(label_sets)
    expected = _expected(items)
    assert len(set(expected)) == len(items)
    assert all(len(fp) == 16 for fp in expected)
    assert benchmark(fingerprint_batch, items) == expected


@pytest.mark.benchmark(group="fingerprint_batch: 100 explicit (scope, key) dedup keys")
@pytest.mark.usefixtures("record_median")
@BATCH
def test_batch_of_keys(
    benchmark: BenchmarkFixture,
    fingerprint_batch: Callable[[list[Identity]], list[str]],
    explicit_keys: list[tuple[str, str]],
) -> None:
    items: list[Identity] = list(explicit_keys)
    expected = _expected(items)
    assert len(set(expected)) == len(items)
    assert all(len(fp) == 64 for fp in expected)
    assert benchmark(fingerprint_batch, items) == expected


@pytest.mark.benchmark(group="label_fingerprint: 1 label set (8 labels)")
@pytest.mark.usefixtures("record_median")
@LABELS
def test_single_label_set(
    benchmark: BenchmarkFixture,
    label_fingerprint: Callable[[dict[str, str]], str],
    label_sets: list[dict[str, str]],
) -> None:
    labels = label_sets[0]
    (expected,) = _expected([labels])
    assert benchmark(label_fingerprint, labels) == expected


@pytest.mark.benchmark(group="key_fingerprint: 1 explicit (scope, key)")
@pytest.mark.usefixtures("record_median")
@KEY
def test_single_key(
    benchmark: BenchmarkFixture,
    key_fingerprint: Callable[[str, str], str],
    explicit_keys: list[tuple[str, str]],
) -> None:
    scope, key = explicit_keys[1]
    (expected,) = _expected([(scope, key)])
    assert benchmark(key_fingerprint, scope, key) == expected


def _loop_of_single_calls(items: list[dict[str, str]]) -> list[str]:
    return [_core.label_fingerprint(labels) for labels in items]


@pytest.mark.benchmark(group="fingerprint_batch vs a Python loop of _core.label_fingerprint: 100 label sets")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize(
    "fingerprint_batch", [_core.fingerprint_batch, _loop_of_single_calls], ids=["rust", "rust-single-calls"]
)
def test_batch_call_against_single_calls(
    benchmark: BenchmarkFixture,
    fingerprint_batch: Callable[[list[dict[str, str]]], list[str]],
    label_sets: list[dict[str, str]],
) -> None:
    """What the batch call saves (or costs) over one call per alert: the binding's per-call overhead."""
    expected = _expected(list(label_sets))
    assert benchmark(fingerprint_batch, list(label_sets)) == expected
