"""The overlay adds exactly the counters a read could not see, however it races a flush."""

from __future__ import annotations

from contextlib import AbstractContextManager
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
    with buffer.reading():  # a read whose query saw the old rows and adds the buckets after the flush lands
        buffer.flushed(bucket, 25)
        # landed: a read at the new watermark sees the 3 in the rows; the late read of the old rows adds them
        assert buffer.incident(row(4), 25).alert_count == 6
        assert buffer.incident(row(1), 10).alert_count == 6
        assert buffer.incident(row(1), 10).last_seen_at == T0 + timedelta(seconds=2)
    assert buffer.kept == 0


def test_a_landed_bucket_is_kept_exactly_while_a_read_that_started_before_it_landed_is_under_way() -> None:
    buffer = ProjectionBuffer(watermark=10)
    buffer.add(counter(3, 1))
    early = buffer.reading()
    early.__enter__()
    bucket = buffer.take()
    with buffer.reading():  # started while the flush was in flight: it too may have seen the old rows
        buffer.flushed(bucket, 25)
        with buffer.reading():  # started after the flush landed: its query sees the rows
            assert buffer.kept == 1
        assert buffer.kept == 1
    assert buffer.kept == 1  # the early read is still under way
    early.__exit__(None, None, None)
    assert buffer.kept == 0
    # nothing under way: a landed bucket goes at once, an in-flight one stays until it lands or fails
    buffer.add(counter(2, 2))
    second = buffer.take()
    assert buffer.kept == 1
    buffer.flushed(second, 30)
    assert buffer.kept == 0


def test_a_failed_flush_keeps_its_counters_live() -> None:
    buffer = ProjectionBuffer(watermark=10)
    buffer.add(counter(3, 1))
    bucket = buffer.take()
    buffer.add(counter(2, 2))
    buffer.failed(bucket)
    assert buffer.live.incidents["i1"].count == 5
    assert buffer.incident(row(1), 10).alert_count == 6


@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.booleans(), st.booleans(), st.sampled_from(["none", "start", "end"])),
        max_size=40,
    )
)
def test_reads_under_way_stay_exact_whatever_lands_meanwhile(steps: list[tuple[int, bool, bool, str]]) -> None:
    """Model: rows hold what landed; a read queries the rows when it starts (the rows and watermark of that
    moment) and adds the buffer's buckets when it ends; it must then count every alert committed up to its end,
    however many flushes landed in between (a read within one step sees the total too), and once no read is
    under way no landed bucket is kept."""
    buffer = ProjectionBuffer(watermark=0)
    rows_count, total, watermark = 1, 1, 0
    in_flight = None
    reads: list[tuple[int, int, AbstractContextManager[None]]] = []  # (rows seen, watermark seen, reading())
    for n, flush, land, read in steps:
        buffer.add(counter(n, n))
        total += n
        if read == "start":
            held = buffer.reading()
            held.__enter__()
            reads.append((rows_count, watermark, held))
        if in_flight is None and flush:
            taken = buffer.take()
            in_flight = (taken, sum(c.count for c in taken.alerts.values()))
        if in_flight is not None and land:
            bucket, count = in_flight
            watermark += 1
            rows_count += count
            buffer.flushed(bucket, watermark)
            in_flight = None
        if read == "end" and reads:
            seen, seen_watermark, held = reads.pop(0)
            assert buffer.incident(row(seen), seen_watermark).alert_count == total
            held.__exit__(None, None, None)
        with buffer.reading():  # a read within this step
            assert buffer.incident(row(rows_count), watermark).alert_count == total
    for seen, seen_watermark, held in reads:
        assert buffer.incident(row(seen), seen_watermark).alert_count == total
        held.__exit__(None, None, None)
    assert buffer.kept == (0 if in_flight is None else 1)
