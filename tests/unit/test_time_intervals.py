"""Alertmanager's time intervals: the configuration (checked, every rejection naming its key), which moments an
interval contains (Alertmanager's own test cases, daylight saving time in the location), and properties against
Python's calendar. Where Debian's prometheus-alertmanager is installed, what it accepts is compared too."""

from __future__ import annotations

import calendar
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.routing.time_intervals import (
    MONTHS,
    WEEKDAYS,
    NamedTimeInterval,
    TimeInterval,
    TimeRange,
    active_intervals,
)


class _Doc(msgspec.Struct, forbid_unknown_fields=True):
    time_intervals: list[NamedTimeInterval]


def _interval(**fields: Any) -> TimeInterval:
    return msgspec.convert(fields, TimeInterval)


def _at(text: str) -> datetime:
    """A moment written as Alertmanager's tests write them (Go's RFC822Z): ``02 Jan 06 15:04 +0000``."""
    return datetime.strptime(text, "%d %b %y %H:%M %z")


# -- which moments an entry contains: Alertmanager's timeinterval_test.go ------------------------------------------
BUSINESS_HOURS = {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]}
CONTAINS = [
    # (entry, moments it contains, moments it does not)
    ({}, ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"], []),
    (
        BUSINESS_HOURS,
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    (  # Easter 2020
        {"days_of_month": ["4:6"], "months": ["april"], "years": ["2020"]},
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        [
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    ),
    (  # the last three days of each month
        {"days_of_month": ["-3:-1"]},
        [
            "31 Jan 20 15:04 +0000",
            "30 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
        ],
        [
            "03 May 18 15:04 +0000",
            "27 Jan 20 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
            "01 Mar 20 00:00 +0000",
        ],
    ),
    (  # 9 to 5 in Sydney, Monday to Friday
        {**BUSINESS_HOURS, "location": "Australia/Sydney"},
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    (  # the same during Sydney's daylight saving time
        {**BUSINESS_HOURS, "months": ["november"], "location": "Australia/Sydney"},
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
    (  # the last week, but Saturday, of the first quarter, 9 to 5, in 2020-2025 and 2030-2035
        {
            "weekdays": ["monday:friday", "sunday"],
            "months": ["january:march"],
            "days_of_month": ["-7:-1"],
            "years": ["2020:2025", "2030:2035"],
            "times": [{"start_time": "09:00", "end_time": "17:00"}],
        },
        [
            "27 Jan 21 09:00 +0000",
            "28 Jan 21 16:59 +0000",
            "29 Jan 21 13:00 +0000",
            "31 Mar 25 13:00 +0000",
            "31 Jan 35 13:00 +0000",
        ],
        ["30 Jan 21 13:00 +0000", "01 Apr 21 13:00 +0000", "30 Jan 26 13:00 +0000", "31 Jan 35 17:01 +0000"],
    ),
    (
        {
            "weekdays": ["monday:wednesday", "saturday", "sunday"],
            "times": [{"start_time": "13:00", "end_time": "15:00"}],
            "days_of_month": ["1", "10", "20:-1"],
            "years": ["2020:2023"],
            "months": ["january:march"],
        },
        ["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
        ["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"],
    ),
    (  # a range starting after the end of the month is empty (not clamped to its last day)
        {"days_of_month": ["30:31"], "years": ["2020:2023"], "months": ["february"]},
        [],
        ["28 Feb 21 13:00 +0000"],
    ),
    (  # an end past the end of the month is the last day
        {"days_of_month": ["1:31"], "months": ["february"]},
        ["28 Feb 21 13:00 +0000", "01 Feb 21 00:00 +0000"],
        ["01 Mar 21 00:00 +0000"],
    ),
    (  # the last day of a month with a daylight saving change (Alertmanager's fix #5447)
        {"days_of_month": ["-1"], "location": "America/New_York"},
        ["31 Mar 21 12:00 -0400", "31 Mar 21 23:59 -0400"],
        ["30 Mar 21 12:00 -0400", "01 Apr 21 00:00 -0400"],
    ),
    (  # 24:00 ends the day; the end minute is excluded
        {"times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}]},
        ["01 Jan 26 23:59 +0000", "01 Jan 26 00:00 +0000", "01 Jan 26 05:59 +0000"],
        ["01 Jan 26 21:59 +0000", "01 Jan 26 06:00 +0000"],
    ),
    (  # a field set to an empty list contains nothing
        {"weekdays": []},
        [],
        ["01 Jan 26 12:00 +0000", "04 Jan 26 12:00 +0000"],
    ),
    (  # names in any case, months by number
        {"weekdays": ["Monday:FRIDAY"], "months": ["1:3", "December"]},
        ["05 Jan 26 12:00 +0000", "07 Dec 26 12:00 +0000"],
        ["04 Jan 26 12:00 +0000", "06 Apr 26 12:00 +0000"],
    ),
]


@pytest.mark.parametrize(("entry", "inside", "outside"), CONTAINS)
def test_which_moments_an_entry_contains(entry: dict[str, Any], inside: list[str], outside: list[str]) -> None:
    interval = _interval(**entry)
    for text in inside:
        assert interval.contains(_at(text)), text
    for text in outside:
        assert not interval.contains(_at(text)), text


# -- daylight saving time in the location --------------------------------------------------------------------------
BERLIN = {"times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/Berlin"}
DST = [
    # (entry, UTC moment, contained): Berlin springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST) and falls
    # back on 2026-10-25 (03:00 CEST -> 02:00 CET); 9 to 5 follows the clock
    (BERLIN, datetime(2026, 3, 28, 7, 59, tzinfo=UTC), False),  # 08:59 CET
    (BERLIN, datetime(2026, 3, 28, 8, 0, tzinfo=UTC), True),  # 09:00 CET
    (BERLIN, datetime(2026, 3, 28, 15, 59, tzinfo=UTC), True),  # 16:59 CET
    (BERLIN, datetime(2026, 3, 28, 16, 0, tzinfo=UTC), False),  # 17:00 CET
    (BERLIN, datetime(2026, 3, 29, 6, 59, tzinfo=UTC), False),  # 08:59 CEST, the spring-forward day
    (BERLIN, datetime(2026, 3, 29, 7, 0, tzinfo=UTC), True),  # 09:00 CEST
    (BERLIN, datetime(2026, 3, 29, 14, 59, tzinfo=UTC), True),  # 16:59 CEST
    (BERLIN, datetime(2026, 3, 29, 15, 0, tzinfo=UTC), False),  # 17:00 CEST
    (BERLIN, datetime(2026, 10, 25, 7, 59, tzinfo=UTC), False),  # 08:59 CET, the fall-back day
    (BERLIN, datetime(2026, 10, 25, 8, 0, tzinfo=UTC), True),  # 09:00 CET
    (BERLIN, datetime(2026, 10, 25, 16, 0, tzinfo=UTC), False),  # 17:00 CET
]


@pytest.mark.parametrize(("entry", "at", "expected"), DST)
def test_business_hours_follow_the_clock_across_daylight_saving(
    entry: dict[str, Any], at: datetime, expected: bool
) -> None:
    assert _interval(**entry).contains(at) is expected
    # the same moment in any other zone is the same moment
    assert _interval(**entry).contains(at.astimezone(ZoneInfo("Asia/Tokyo"))) is expected


def _minutes_of(day: datetime, interval: TimeInterval) -> list[datetime]:
    return [day + timedelta(minutes=m) for m in range(24 * 60) if interval.contains(day + timedelta(minutes=m))]


def test_the_hour_that_does_not_exist_and_the_hour_that_happens_twice() -> None:
    night = _interval(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    assert _minutes_of(datetime(2026, 3, 28, 22, tzinfo=UTC), night) == []  # 02:00-03:00 is skipped on 29 March
    twice = _minutes_of(datetime(2026, 10, 24, 22, tzinfo=UTC), night)
    assert len(twice) == 120  # 02:00-03:00 CEST, then 02:00-03:00 CET
    assert twice[0] == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert twice[-1] == datetime(2026, 10, 25, 1, 59, tzinfo=UTC)
    # 9 to 5 is 8 hours on the clock, 8 hours of UTC minutes on either day
    day = _interval(**BERLIN)
    assert len(_minutes_of(datetime(2026, 3, 29, tzinfo=UTC), day)) == 8 * 60
    assert len(_minutes_of(datetime(2026, 10, 25, tzinfo=UTC), day)) == 8 * 60


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone")
def test_local_is_this_machines_time_zone() -> None:
    local = _interval(times=[{"start_time": "09:00", "end_time": "10:00"}], location="Local")
    assert local.contains(datetime(2026, 1, 5, 0, 30, tzinfo=UTC))  # 09:30 in Tokyo
    assert not local.contains(datetime(2026, 1, 5, 9, 30, tzinfo=UTC))


def test_a_moment_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        _interval().contains(datetime(2026, 1, 1))


# -- named intervals -----------------------------------------------------------------------------------------------
def test_a_named_interval_contains_what_any_entry_contains() -> None:
    doc = msgspec.yaml.decode(
        b"""
time_intervals:
  - name: out-of-hours
    time_intervals:
      - weekdays: [saturday, sunday]
      - times: [{start_time: "00:00", end_time: "09:00"}, {start_time: "17:00", end_time: "24:00"}]
  - name: never
    time_intervals: []
  - name: christmas
    time_intervals: [{months: [december], days_of_month: ["24:26"]}]
""",
        type=_Doc,
    )
    out_of_hours, never, christmas = doc.time_intervals
    monday_noon = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert not out_of_hours.contains(monday_noon)
    assert out_of_hours.contains(monday_noon + timedelta(hours=6))
    assert out_of_hours.contains(monday_noon - timedelta(days=1))
    assert not never.contains(monday_noon)
    assert christmas.contains(datetime(2026, 12, 25, tzinfo=UTC))
    names = ["christmas", "out-of-hours", "never", "out-of-hours"]
    assert active_intervals(doc.time_intervals, names, monday_noon - timedelta(days=1)) == ["out-of-hours"]
    assert active_intervals(doc.time_intervals, names, datetime(2026, 12, 26, 20, tzinfo=UTC)) == [
        "christmas",
        "out-of-hours",
    ]
    with pytest.raises(ValueError, match='no time interval is named "nope"'):
        active_intervals(doc.time_intervals, ["nope"], monday_noon)


# -- the configuration -----------------------------------------------------------------------------------------------
def test_the_configuration_reads_as_written() -> None:
    doc = msgspec.yaml.decode(
        b"""
time_intervals:
  - name: business-hours
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: ["monday:friday", "saturday"]
        days_of_month: ["1:5", "-3:-1"]
        months: ["january:march", "12"]
        years: ["2026:2027"]
        location: Europe/Berlin
""",
        type=_Doc,
    )
    entry = doc.time_intervals[0].time_intervals[0]
    assert entry.times == [TimeRange(start_time="09:00", end_time="17:00")]
    assert (entry.times[0].start_minute, entry.times[0].end_minute) == (540, 1020)
    assert entry.weekdays == ["monday:friday", "saturday"]
    assert entry.days_of_month == ["1:5", "-3:-1"]
    assert msgspec.json.decode(msgspec.json.encode(doc), type=_Doc) == doc


def test_unquoted_times_and_ranges_read_as_written_despite_yaml_base_60() -> None:
    # YAML 1.1 reads an unquoted 17:00 as 1020 and 1:5 as 65; Alertmanager (Go's YAML) reads them as text
    doc = msgspec.yaml.decode(
        b"""
time_intervals:
  - name: t
    time_intervals:
      - times: [{start_time: 09:00, end_time: 17:00}, {start_time: 20:00, end_time: 24:00}]
        days_of_month: [1:5, 10:20, -3:-1, 15]
        months: [1:3, 12]
        years: [2026]
""",
        type=_Doc,
    )
    entry = doc.time_intervals[0].time_intervals[0]
    assert entry.times == [
        TimeRange(start_time="09:00", end_time="17:00"),
        TimeRange(start_time="20:00", end_time="24:00"),
    ]
    assert entry.days_of_month == ["1:5", "10:20", "-3:-1", "15"]
    assert entry.months == ["1:3", "12"]
    assert entry.years == ["2026"]
    assert entry.contains(datetime(2026, 3, 15, 9, tzinfo=UTC))


IN_TIMES = " - at `$.time_intervals[0].time_intervals[0].times[0]`"
ERRORS = [
    # (entry, the error: ours, then msgspec's path to the entry)
    ({"weekdays": ["funday"]}, 'weekdays[0]: "funday" is not a weekday'),
    ({"weekdays": ["monday", "Funday:friday"]}, 'weekdays[1]: "Funday" is not a weekday'),
    ({"weekdays": ["1:3"]}, 'weekdays[0]: "1" is not a weekday'),
    (
        {"weekdays": ["friday:monday"]},
        'weekdays[0]: "friday:monday": monday comes before friday in the week (sunday to saturday)',
    ),
    ({"weekdays": ["monday:"]}, 'weekdays[0]: "" is not a weekday'),
    ({"weekdays": ["a:b:c"]}, 'weekdays[0]: "a:b:c" is not a range (start:end)'),
    (
        {"days_of_month": ["0"]},
        'days_of_month[0]: "0" is not a day of the month (1 to 31, or -1 for the last day to -31)',
    ),
    (
        {"days_of_month": ["-50:-20"]},
        'days_of_month[0]: "-50" is not a day of the month (1 to 31, or -1 for the last day to -31)',
    ),
    (
        {"days_of_month": ["1:50"]},
        'days_of_month[0]: "50" is not a day of the month (1 to 31, or -1 for the last day to -31)',
    ),
    (
        {"days_of_month": [" 1"]},
        'days_of_month[0]: " 1" is not a day of the month (1 to 31, or -1 for the last day to -31)',
    ),
    (
        {"days_of_month": ["-15:5"]},
        'days_of_month[0]: "-15:5": a range that starts counting from the end of the month must end so too',
    ),
    ({"days_of_month": ["10:-25"]}, 'days_of_month[0]: "10:-25": the end day -25 is always before the start day 10'),
    ({"days_of_month": ["28:-1"]}, 'days_of_month[0]: "28:-1": the end day -1 is always before the start day 28'),
    ({"months": ["martius:june"]}, 'months[0]: "martius" is not a month'),
    ({"months": ["march:junius"]}, 'months[0]: "junius" is not a month'),
    ({"months": ["december:january"]}, 'months[0]: "december:january": january comes before december'),
    ({"months": ["13"]}, 'months[0]: "13" is not a month'),
    ({"years": ["2022:2020"]}, 'years[0]: "2022:2020": 2020 is before 2022'),
    ({"years": ["twenty"]}, 'years[0]: "twenty" is not a year'),
    ({"location": "Mars/Olympus"}, 'location: unknown time zone "Mars/Olympus"'),
    ({"location": "Europe"}, 'location: unknown time zone "Europe"'),
    (
        {"times": [{"start_time": "01:99", "end_time": "23:59"}]},
        'start_time: "01:99" is not a time of day (HH:MM, from 00:00 to 24:00)' + IN_TIMES,
    ),
    (
        {"times": [{"start_time": "9:00", "end_time": "17:00"}]},
        'start_time: "9:00" is not a time of day (HH:MM, from 00:00 to 24:00)' + IN_TIMES,
    ),
    (
        {"times": [{"start_time": "12:30", "end_time": "24:01"}]},
        'end_time: "24:01" is not a time of day (HH:MM, from 00:00 to 24:00)' + IN_TIMES,
    ),
    (
        {"times": [{"start_time": "17:31", "end_time": "17:31"}]},
        'end_time: "17:31" is not after start_time "17:31"' + IN_TIMES,
    ),
    (
        {"times": [{"start_time": "14:03"}]},
        "Object missing required field `end_time` - at `$.time_intervals[0].time_intervals[0].times[0]`",
    ),
    ({"weekday": ["monday"]}, "Object contains unknown field `weekday` - at `$.time_intervals[0].time_intervals[0]`"),
]


@pytest.mark.parametrize(("entry", "message"), ERRORS)
def test_configuration_errors_name_the_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"time_intervals": [{"name": "t", "time_intervals": [entry]}]}, _Doc)
    where = " - at `$.time_intervals[0].time_intervals[0]`"
    assert str(info.value) == (message if " - at `" in message else message + where)


def test_a_named_interval_needs_a_name() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"name: must not be empty - at `\$.time_intervals\[0\]`"):
        msgspec.convert({"time_intervals": [{"name": "", "time_intervals": []}]}, _Doc)
    with pytest.raises(msgspec.ValidationError, match="missing required field `name`"):
        msgspec.convert({"time_intervals": [{"time_intervals": []}]}, _Doc)


# -- properties -----------------------------------------------------------------------------------------------------
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham"]
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from(ZONES)


@given(moments, zones, st.integers(0, 6), st.integers(0, 6))
def test_weekday_ranges_agree_with_the_calendar(at: datetime, zone: str, a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    interval = _interval(weekdays=[f"{WEEKDAYS[begin]}:{WEEKDAYS[end]}"], location=zone)
    weekday = (at.astimezone(ZoneInfo(zone)).weekday() + 1) % 7  # Python's Monday 0 -> Alertmanager's Sunday 0
    assert interval.contains(at) is (begin <= weekday <= end)


@given(moments, zones, st.integers(1, 12), st.integers(1, 12))
def test_month_ranges_agree_with_the_calendar(at: datetime, zone: str, a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    interval = _interval(months=[f"{MONTHS[begin - 1]}:{end}"], location=zone)
    assert interval.contains(at) is (begin <= at.astimezone(ZoneInfo(zone)).month <= end)


def _day_spec(a: int, b: int) -> tuple[int, int] | None:
    """A days_of_month range Alertmanager accepts, from two days in -31..31 (0 left out), or None."""
    if a == 0 or b == 0 or (a < 0 < b) or (a + 28 if a < 0 else a) > (b + 28 if b < 0 else b):
        return None
    return a, b


@given(moments, zones, st.integers(-31, 31), st.integers(-31, 31))
def test_days_of_month_agree_with_the_calendar(at: datetime, zone: str, a: int, b: int) -> None:
    spec = _day_spec(a, b)
    if spec is None:
        with pytest.raises(ValueError, match="days_of_month"):
            _interval(days_of_month=[f"{a}:{b}"])
        return
    begin, end = spec
    local = at.astimezone(ZoneInfo(zone))
    days = calendar.monthrange(local.year, local.month)[1]
    from_end = days - local.day + 1  # 1 on the last day, as -1 counts
    after_start = local.day >= begin if begin > 0 else from_end <= -begin
    before_end = local.day <= end if end > 0 else from_end >= -end
    assert _interval(days_of_month=[f"{begin}:{end}"], location=zone).contains(at) is (after_start and before_end)


@given(moments, zones, st.integers(0, 1439), st.integers(1, 1440))
def test_times_agree_with_the_clock(at: datetime, zone: str, start: int, end: int) -> None:
    if start >= end:
        return
    times = [{"start_time": f"{start // 60:02d}:{start % 60:02d}", "end_time": f"{end // 60:02d}:{end % 60:02d}"}]
    local = at.astimezone(ZoneInfo(zone))
    assert _interval(times=times, location=zone).contains(at) is (start <= local.hour * 60 + local.minute < end)


@given(moments, st.lists(st.sampled_from([{}, {"weekdays": ["monday"]}, {"years": ["1990:1999"]}]), max_size=3))
def test_a_named_interval_is_the_union_of_its_entries(at: datetime, entries: list[dict[str, Any]]) -> None:
    named = msgspec.convert({"name": "n", "time_intervals": entries}, NamedTimeInterval)
    assert named.contains(at) is any(_interval(**entry).contains(at) for entry in entries)


# -- against a real Alertmanager (Debian's prometheus-alertmanager) ---------------------------------------------------
AMTOOL = shutil.which("amtool")
ACCEPTANCE = [
    '{weekdays: ["Monday:FRIDAY"]}',
    '{weekdays: ["1"]}',
    '{weekdays: ["monday:"]}',
    '{weekdays: ["a:b:c"]}',
    "{weekdays: []}",
    '{days_of_month: ["-31:31"]}',
    '{days_of_month: ["28:-1"]}',
    '{days_of_month: ["1:-1"]}',
    '{days_of_month: [" 1"]}',
    '{days_of_month: ["+1"]}',
    '{days_of_month: ["01"]}',
    "{days_of_month: [1:5]}",
    '{days_of_month: ["-7:-1"]}',
    '{days_of_month: ["27:-2"]}',
    '{years: ["-5"]}',
    '{years: ["2020:2019"]}',
    '{location: "Local"}',
    '{location: ""}',
    '{location: "utc"}',
    '{location: "Europe"}',
    '{location: "UTC"}',
    '{location: "America/Argentina/Buenos_Aires"}',
    '{times: [{start_time: "9:00", end_time: "17:00"}]}',
    "{times: [{start_time: 09:00, end_time: 17:00}]}",
    '{times: [{start_time: "00:00", end_time: "24:00"}]}',
    '{times: [{start_time: "24:00", end_time: "24:00"}]}',
    '{times: [{start_time: "10:00"}]}',
    '{times: [{start_time: "10:00", end_time: "09:59"}]}',
    '{months: ["January:december"]}',
    "{foo: 1}",
    "{}",
]
NOT_ALERTMANAGERS = ['{months: ["13"]}', '{months: ["0"]}']  # accepted there (and never matched); refused here


def _named(entry: str) -> str:
    return f"time_intervals:\n  - name: t\n    time_intervals:\n      - {entry}\n"


@pytest.mark.alertmanager
@pytest.mark.skipif(AMTOOL is None, reason="needs amtool (Debian's prometheus-alertmanager)")
@pytest.mark.parametrize("entry", ACCEPTANCE + NOT_ALERTMANAGERS)
def test_what_alertmanager_accepts(entry: str, tmp_path: Path) -> None:
    assert AMTOOL is not None
    config = tmp_path / "am.yml"
    config.write_text("route:\n  receiver: d\nreceivers:\n  - name: d\n" + _named(entry))
    theirs = subprocess.run([AMTOOL, "check-config", str(config)], capture_output=True, check=False).returncode == 0
    try:
        msgspec.yaml.decode(_named(entry).encode(), type=_Doc)
        ours = True
    except msgspec.ValidationError:
        ours = False
    assert ours is (theirs and entry not in NOT_ALERTMANAGERS)
