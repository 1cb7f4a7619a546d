"""Decoding an Alertmanager webhook of 100 alerts: our msgspec adapter against ``json.loads`` + dicts by hand.

Both sides produce the same normalised alerts (the hand-written side gives each as a dict with the fields of
``Alert``), using the same normalisation helpers (severity words, dimensions, UTC times), so the comparison is
of decoding and object building. The hand-written side checks less than msgspec does (no type validation of
labels and annotations, no field-naming errors), which favours it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from llm_incident_manager.domain.alerts import EventAction
from llm_incident_manager.ingest import alertmanager
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import as_fields, dimensions, severity_or_default, utc

RECEIVED_AT = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def decode_msgspec(body: bytes) -> list[Any]:
    return alertmanager.decode(body, IngestContext(received_at=RECEIVED_AT))


def _time(value: str | None) -> datetime | None:
    return utc(datetime.fromisoformat(value)) if value else None


def decode_by_hand(body: bytes) -> list[Any]:
    """The obvious alternative: ``json.loads`` and one dict per alert, with the adapter's rules."""
    payload = json.loads(body)
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise ValueError("alerts: must be a non-empty array")
    out = []
    for i, item in enumerate(alerts):
        status = item.get("status", "firing")
        if status not in ("firing", "resolved"):
            raise ValueError(f"alerts[{i}].status: must be 'firing' or 'resolved'")
        labels = item["labels"]
        annotations = item.get("annotations") or {}
        starts_at = _time(item.get("startsAt"))
        ends_at = _time(item.get("endsAt"))
        resolved = status == "resolved"
        links = [url for url in (item.get("generatorURL", ""), annotations.get("runbook_url", "")) if url]
        out.append(
            {
                "title": annotations.get("summary") or labels.get("alertname") or "alert",
                "severity": severity_or_default(
                    labels.get("severity") or labels.get("priority"), f"alerts[{i}].labels.severity", strict=False
                ),
                "action": EventAction.RESOLVE if resolved else EventAction.TRIGGER,
                "source": "alertmanager",
                "integration": "alertmanager",
                "event_time": (ends_at if resolved else None) or starts_at or RECEIVED_AT,
                "identity": None,  # None: the labels are the identity
                "dedup_key": None,
                "description": annotations.get("description"),
                **as_fields(dimensions(labels)),
                "labels": labels,
                "annotations": annotations,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "links": links,
            }
        )
    return out


def _as_dicts(alerts: list[Any]) -> list[dict[str, Any]]:
    return [a if isinstance(a, dict) else msgspec.structs.asdict(a) for a in alerts]


@pytest.mark.benchmark(group="decode: Alertmanager webhook, 100 alerts")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("decode", [decode_msgspec, decode_by_hand], ids=["msgspec", "json+dicts"])
def test_decode_webhook(benchmark: BenchmarkFixture, decode: Callable[[bytes], list[Any]], webhook_body: bytes) -> None:
    expected = _as_dicts(decode_msgspec(webhook_body))
    assert expected == _as_dicts(decode_by_hand(webhook_body))
    assert len(expected) == 100
    assert sum(a["action"] is EventAction.RESOLVE for a in expected) == 10
    assert all(a["ends_at"] is None for a in expected if a["action"] is EventAction.TRIGGER)
    assert {a["severity"] for a in expected} >= {"medium", "critical"}
    assert _as_dicts(benchmark(decode, webhook_body)) == expected


#: The adapter's wire types, decoded on their own: the JSON-parsing share of the decode above.
_WEBHOOK = msgspec.json.Decoder(alertmanager.AlertmanagerWebhook)


def parse_msgspec(body: bytes) -> list[tuple[dict[str, str], datetime | None]]:
    return [(alert.labels, alert.starts_at) for alert in _WEBHOOK.decode(body).alerts]


def parse_json(body: bytes) -> list[tuple[dict[str, str], datetime | None]]:
    return [(alert["labels"], _time(alert.get("startsAt"))) for alert in json.loads(body)["alerts"]]


@pytest.mark.benchmark(group="parse only: Alertmanager webhook, 100 alerts, to wire objects")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("parse", [parse_msgspec, parse_json], ids=["msgspec", "json.loads"])
def test_parse_webhook(
    benchmark: BenchmarkFixture,
    parse: Callable[[bytes], list[tuple[dict[str, str], datetime | None]]],
    webhook_body: bytes,
) -> None:
    expected = parse_msgspec(webhook_body)
    assert expected == parse_json(webhook_body)
    assert len(expected) == 100
    assert benchmark(parse, webhook_body) == expected
