"""The severity matrix of escalation levels that leave ``via`` out: business hours for medium pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.escalation.engine import business_hours_start

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def _inside(at: datetime, zone: str) -> bool:
    local = at.astimezone(ZoneInfo(zone))
    return local.weekday() < 5 and 9 <= local.hour < 18


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        ("2026-03-04T10:00:00+00:00", "UTC", None),  # a Wednesday morning
        ("2026-03-04T18:00:00+00:00", "UTC", "2026-03-05T09:00:00+00:00"),  # after hours: the next morning
        ("2026-03-06T20:00:00+00:00", "UTC", "2026-03-09T09:00:00+00:00"),  # Friday night: Monday
        ("2026-03-07T12:00:00+00:00", "UTC", "2026-03-09T09:00:00+00:00"),  # Saturday
        ("2026-03-04T07:30:00+00:00", "Europe/Berlin", "2026-03-04T08:00:00+00:00"),  # 08:30 in Berlin
        ("2026-03-27T23:00:00+00:00", "Europe/Berlin", "2026-03-30T07:00:00+00:00"),  # across the DST change
    ],
)
def test_business_hours(now: str, zone: str, expected: str | None) -> None:
    found = business_hours_start(datetime.fromisoformat(now), zone)
    assert found == (None if expected is None else datetime.fromisoformat(expected))


@given(
    now=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
)
def test_business_hours_start_is_the_next_start_and_nothing_earlier(now: datetime, zone: str) -> None:
    found = business_hours_start(now, zone)
    if found is None:
        assert _inside(now, zone)
        return
    assert not _inside(now, zone)
    assert found > now
    assert _inside(found, zone)
    assert found.astimezone(ZoneInfo(zone)).hour == 9
    probe = now  # no business hour starts between now and the answer
    while probe + timedelta(minutes=30) < found:
        probe += timedelta(minutes=30)
        assert not _inside(probe, zone)
