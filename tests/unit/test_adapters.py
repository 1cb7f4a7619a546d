"""Ingest adapters as parsers: property tests over wide inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.domain.alerts import EventAction, Severity
from llm_incident_manager.errors import InvalidInput, PayloadTooLarge
from llm_incident_manager.ingest import alertmanager, cloudevents, generic
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.ingest.normalize import DIMENSION_ALIASES, dimensions
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.reference import label_fingerprint

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CTX = IngestContext(received_at=NOW, max_batch=50)
label_sets = st.dictionaries(st.text(min_size=1, max_size=15), st.text(max_size=30), min_size=1, max_size=10)
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(st.lists(st.tuples(label_sets, st.sampled_from(["firing", "resolved"]), times), min_size=1, max_size=20))
def test_alertmanager_fingerprints_equal_alertmanager_and_status_maps(
    items: list[tuple[dict[str, str], str, datetime]],
) -> None:
    body = msgspec.json.encode(
        {
            "version": "4",
            "alerts": [
                {"labels": labels, "status": status, "startsAt": at.isoformat(), "endsAt": "0001-01-01T00:00:00Z"}
                for labels, status, at in items
            ],
        }
    )
    alerts = alertmanager.decode(body, CTX)
    assert fingerprint_alerts(alerts) == [label_fingerprint(labels) for labels, _, _ in items]
    for alert, (_, status, at) in zip(alerts, items, strict=True):
        assert alert.action is (EventAction.RESOLVE if status == "resolved" else EventAction.TRIGGER)
        assert alert.ends_at is None
        assert abs(alert.event_time - at) < timedelta(microseconds=1)


def test_alertmanager_naive_and_offset_times_become_utc() -> None:
    body = (
        b'{"alerts": [{"labels": {"a": "b"}, "startsAt": "2026-03-01T14:00:00+02:00"},'
        b' {"labels": {"a": "c"}, "startsAt": "2026-03-01T12:00:00"}]}'
    )
    first, second = alertmanager.decode(body, CTX)
    assert first.event_time == second.event_time == NOW
    assert first.event_time.tzinfo is UTC


@given(
    st.text(min_size=1, max_size=40).filter(str.strip),
    st.sampled_from(["critical", "high", "medium", "low", "info", "P1", "warning", None]),
    label_sets,
    st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    st.sampled_from(["firing", "resolved"]),
)
def test_generic_round_trip(
    title: str, severity: str | None, labels: dict[str, str], key: str | None, status: str
) -> None:
    item = {"title": title, "labels": labels, "status": status, "unknown_field": [1, 2]}
    if severity is not None:
        item["severity"] = severity
    if key is not None:
        item["dedup_key"] = key
    [alert] = generic.decode(msgspec.json.encode(item), CTX)
    assert alert.title == title
    assert alert.labels == labels
    expected = {None: Severity.MEDIUM, "P1": Severity.CRITICAL, "warning": Severity.MEDIUM}
    assert alert.severity is (expected[severity] if severity in expected else Severity(severity))
    assert alert.event_time == NOW
    assert (alert.identity == ("generic:generic", key)) if key else isinstance(alert.identity, dict)
    assert alert.action is (EventAction.RESOLVE if status == "resolved" else EventAction.TRIGGER)


def test_generic_epoch_timestamp_and_batch_limit() -> None:
    [alert] = generic.decode(b'{"title": "x", "timestamp": 1772366400}', CTX)
    assert alert.event_time == NOW
    with pytest.raises(InvalidInput) as info:
        generic.decode(b'{"title": "x", "timestamp": 1e300}', CTX)
    assert info.value.errors[0].field == "timestamp"
    with pytest.raises(PayloadTooLarge):
        generic.decode(msgspec.json.encode([{"title": "x"}] * 51), CTX)
    with pytest.raises(InvalidInput):
        generic.decode(b"[]", CTX)


def test_generic_identity_distinguishes_title_and_source() -> None:
    a, b, c = generic.decode(b'[{"title": "x"}, {"title": "y"}, {"title": "x", "source": "grafana"}]', CTX)
    assert len(set(fingerprint_alerts([a, b, c]))) == 3


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_cloudevents_source_and_id_identify_the_event(source: str, event_id: str) -> None:
    event = {"specversion": "1.0", "id": event_id, "source": source, "type": "t", "data": {"title": "x"}}
    ctx = IngestContext(received_at=NOW, content_type="application/cloudevents+json")
    [alert] = cloudevents.decode(msgspec.json.encode(event), ctx)
    assert alert.identity == (f"ce:{source}", f"id:{event_id}")


@given(
    st.dictionaries(
        st.sampled_from(sorted({n for names in DIMENSION_ALIASES.values() for n in names} | {"x"})),
        st.text(max_size=3),
        max_size=12,
    )
)
def test_dimensions_take_the_first_alias_present(labels: dict[str, str]) -> None:
    expected = {}
    for dim, names in DIMENSION_ALIASES.items():
        for name in names:
            if labels.get(name):
                expected[dim] = labels[name]
                break
    assert dimensions(labels) == expected
