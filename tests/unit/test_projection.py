"""The overlay adds exactly the counters a read could not see, however it races a flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.pipeline.projection import ProjectionBuffer
from llm_incident_manager.pipeline.writeset import Counter

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def row(count: int) -> Incident:
    return Incident(
        id="i1", status=IncidentStatus.TRIGGERED, severity=Severity.HIGH, title="t", source="s", created_at=T0,
        updated_at=T0, last_seen_at=T0, alert_count=count, fingerprint="fp",
    )  # fmt: skip


def counter(n: int, at: int) -> dict[tuple[str, str], Counter]:
    seen = T0 + timedelta(seconds=at)
    return {("i1", "fp"): Counter(n, seen, seen, f"title {at}", Severity.HIGH, {}, {})}


def test_a_read_before_the_flush_lands_adds_the_bucket_and_one_after_does_not() -> None:
    buffer = ProjectionBuffer(watermark=10)
    buffer.add(counter(3, 1))
    assert buffer.incident(row(1), 10).alert_count == 4
    bucket = buffer.take()
    buffer.add(counter(2, 2))
    # in flight: a read that saw the old rows adds both buckets
    assert buffer.incident(row(1), 10).alert_count == 6
    buffer.flushed(bucket, 25)
    # landed: a read at the new watermark sees the 3 in the rows; a late read of the old rows still adds them
    assert buffer.incident(row(4), 25).alert_count == 6
    assert buffer.incident(row(1), 10).alert_count == 6
    assert buffer.incident(row(1), 10).last_seen_at == T0 + timedelta(seconds=2)


def test_a_failed_flush_keeps_its_counters_live() -> None:
    buffer = ProjectionBuffer(watermark=10)
    buffer.add(counter(3, 1))
    bucket = buffer.take()
    buffer.add(counter(2, 2))
    buffer.failed(bucket)
    assert buffer.live.incidents["i1"].count == 5
    assert buffer.incident(row(1), 10).alert_count == 6


@given(st.lists(st.tuples(st.integers(1, 5), st.booleans(), st.booleans()), max_size=30))
def test_reads_are_exact_through_any_sequence_of_flushes(steps: list[tuple[int, bool, bool]]) -> None:
    """Model: rows hold what landed; a read at any time (before or after a flush lands) sees the total."""
    buffer = ProjectionBuffer(watermark=0)
    rows_count, total, watermark = 1, 1, 0
    in_flight = None
    for n, flush, land in steps:
        buffer.add(counter(n, n))
        total += n
        if in_flight is None and flush:
            taken = buffer.take()
            in_flight = (taken, sum(c.count for c in taken.alerts.values()))
        if in_flight is not None and land:
            bucket, count = in_flight
            watermark += 1
            rows_count += count
            buffer.flushed(bucket, watermark)
            in_flight = None
        assert buffer.incident(row(rows_count), watermark).alert_count == total
