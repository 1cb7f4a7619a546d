"""Credential redaction: the Rust kernel (rust/src/redact.rs) against its Python reference (pipeline/reference.py,
the regular expressions the service ran before), on what a burst of deliveries renders.

* ``scrub``: every label value, annotation and title of 100 alerts (8 labels, 3 annotations each), one call per
  string, as the Slack, email and SMS renderers call it.
* ``redact_json``: the ``incident`` and ``data`` documents of a webhook delivery of 10 events (each incident with
  its labels, annotations and a few credentials among them), one call per delivery as ``templates.webhook_body``
  makes it; the alternative decodes, cleans and encodes in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from llm_incident_manager import _core
from llm_incident_manager.pipeline import reference

SCRUB = pytest.mark.parametrize("scrub", [_core.scrub, reference.scrub_py], ids=["rust", "python"])
REDACT = pytest.mark.parametrize("redact_json", [_core.redact_json, reference.redact_json_py], ids=["rust", "python"])


def _texts(label_sets: list[dict[str, str]]) -> list[str]:
    out: list[str] = []
    for i, labels in enumerate(label_sets):
        out.extend(labels.values())
        out.append(f"{labels['alertname']} on {labels['service']} ({labels['model']}, {labels['region']})")
        out.append(f"p99 latency of {labels['model']} above 2s for 5m on {labels['instance']}")
        out.append(f"https://grafana.example/d/llm?var-model={labels['model']}&from=now-1h")
        if i % 10 == 0:  # one alert in ten carries a credential somewhere
            out.append(f"upstream answered 401 for Authorization: Bearer sk-proj-{i:04d}abcdefghijklmnop")
    return out


def _documents(label_sets: list[dict[str, str]]) -> list[bytes]:
    docs: list[bytes] = []
    for i, labels in enumerate(label_sets[:10]):
        incident: dict[str, Any] = {
            "id": f"inc_{i:026d}",
            "title": f"{labels['alertname']} on {labels['service']}",
            "severity": "high",
            "status": "triggered",
            "service": labels["service"],
            "model": labels["model"],
            "labels": {**labels, "api_key": "hunter2"} if i % 5 == 0 else labels,
            "annotations": {
                "summary": f"p99 latency of {labels['model']} above 2s",
                "description": f"see https://user:pw@logs.example/q?token=abc{i}&x=1" if i % 3 == 0 else "none",
                "runbook_url": "https://runbooks.example/llm/latency",
            },
            "alert_count": 17 + i,
            "score": 0.875,
        }
        data = {"fingerprint": f"{i:016x}", "alertname": labels["alertname"], "labels": labels, "count": i}
        docs += [msgspec.json.encode(incident), msgspec.json.encode(data)]
    return docs


@pytest.mark.benchmark(group="scrub: the 1,200 strings of 100 alerts, one call each")
@pytest.mark.usefixtures("record_median")
@SCRUB
def test_scrub_alert_strings(
    benchmark: BenchmarkFixture, scrub: Callable[[str], str], label_sets: list[dict[str, str]]
) -> None:
    texts = _texts(label_sets)
    expected = [reference.scrub_py(t) for t in texts]
    assert [_core.scrub(t) for t in texts] == expected
    assert sum("[redacted]" in t for t in expected) == 10

    def run() -> list[str]:
        return [scrub(t) for t in texts]

    assert benchmark(run) == expected


@pytest.mark.benchmark(group="redact_json: a webhook delivery of 10 events (20 documents)")
@pytest.mark.usefixtures("record_median")
@REDACT
def test_redact_webhook_documents(
    benchmark: BenchmarkFixture, redact_json: Callable[[list[bytes]], list[bytes]], label_sets: list[dict[str, str]]
) -> None:
    docs = _documents(label_sets)
    expected = [msgspec.json.decode(d) for d in reference.redact_json_py(docs)]
    assert [msgspec.json.decode(d) for d in _core.redact_json(docs)] == expected
    assert b"hunter2" not in msgspec.json.encode(expected)
    assert [msgspec.json.decode(d) for d in benchmark(redact_json, docs)] == expected
