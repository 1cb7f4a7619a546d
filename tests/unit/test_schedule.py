"""On-call schedules (oncall/schedule.py): layers, overrides, rendering, DST and the skipped day, the
follow-the-sun preset, configuration errors and the iCalendar feed.

Expected handoff instants come from ``first_instant``, written here independently of the module: the earliest
instant whose wall clock reaches a local time, found by trying every offset the zone uses nearby (and, in a gap,
by stepping minute by minute)."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import icalendar
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_incident_manager.configfile import _error as loader_error
from llm_incident_manager.oncall.schedule import (
    Layer,
    OnCall,
    Schedule,
    ScheduleConfig,
    Shift,
)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"]
#: days around the DST changes of 2026 in those zones, and the day Apia skipped
INTERESTING = [
    datetime(2026, 3, 8, tzinfo=UTC),  # New York springs forward
    datetime(2026, 3, 29, tzinfo=UTC),  # Berlin springs forward
    datetime(2026, 4, 5, tzinfo=UTC),  # Lord Howe falls back 30 min, Apia falls back
    datetime(2026, 9, 27, tzinfo=UTC),  # Apia springs forward (2026: no DST, harmless)
    datetime(2026, 10, 4, tzinfo=UTC),  # Lord Howe springs forward 30 min
    datetime(2026, 10, 25, tzinfo=UTC),  # Berlin falls back
    datetime(2026, 11, 1, tzinfo=UTC),  # New York falls back
    datetime(2011, 12, 30, tzinfo=UTC),  # Apia skips 2011-12-30
    datetime(2026, 1, 5, tzinfo=UTC),  # the default anchor
]
USERS = ["ana", "ben", "cara", "dan"]
OVERRIDERS = ["zed", "yan"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MICRO = timedelta(microseconds=1)


def u(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def build(config: dict[str, Any]) -> Schedule:
    return Schedule.from_config(msgspec.convert({"name": "s", **config}, ScheduleConfig))


def user_at(schedule: Schedule, at: datetime) -> str | None:
    oncall = schedule.oncall(at)
    return None if oncall is None else oncall.user


def one_layer(zone: str, **layer: Any) -> Layer:
    return build({"time_zone": zone, "layers": [{"users": ["a", "b", "c"], **layer}]}).layers[0]


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def first_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The earliest instant whose wall clock in tz reaches ``local`` (independent of the module)."""
    probe = local.replace(tzinfo=UTC)
    offsets = {(probe + timedelta(hours=h)).astimezone(tz).utcoffset() or timedelta(0) for h in range(-36, 37, 3)}
    found = [(local - off).replace(tzinfo=UTC) for off in offsets]
    exact = [x for x in found if wall(x, tz) == local]
    if exact:
        return min(exact)
    instant = min(found)
    while wall(instant, tz) < local:
        instant += timedelta(minutes=1)
    return instant


def exists(local: datetime, tz: ZoneInfo) -> bool:
    return wall(first_instant(local, tz), tz) == local


# -- strategies -----------------------------------------------------------------------------------------------
clock_times = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}",
    st.one_of(st.sampled_from([0, 1, 2, 3, 9, 18, 23]), st.integers(0, 23)),
    st.sampled_from([0, 15, 30, 45]),
)
anchors = st.dates(date(2011, 12, 20), date(2026, 12, 31))


@st.composite
def layer_configs(draw: st.DrawFn) -> dict[str, Any]:
    rotation = draw(st.sampled_from(["daily", "weekly", "custom", "hourly"]))
    layer: dict[str, Any] = {
        "rotation": rotation,
        "users": draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=3)),
    }
    if rotation == "daily":
        layer["handoff"] = draw(clock_times)
    elif rotation == "weekly":
        layer["handoff"] = f"{draw(st.sampled_from(WEEKDAYS))[:3]} {draw(clock_times)}"
    elif rotation == "custom":
        layer["turn"] = draw(st.sampled_from(["45m", "8h", "12h", "36h", "3d"]))
        layer["handoff"] = f"{draw(anchors).isoformat()}T{draw(clock_times)}"
    else:
        layer["turn"] = f"{draw(st.integers(1, 6))}h"
        layer["handoff"] = draw(clock_times)
    if rotation != "custom" and draw(st.booleans()):
        layer["start"] = draw(anchors).isoformat()
    if draw(st.booleans()):
        active: dict[str, Any] = {}
        if draw(st.booleans()):
            active["weekdays"] = draw(
                st.lists(st.sampled_from([*WEEKDAYS, "mon:fri", "sat:mon"]), min_size=1, max_size=3)
            )
        if draw(st.booleans()) or not active:
            ranges = draw(
                st.lists(st.tuples(clock_times, clock_times).filter(lambda r: r[0] != r[1]), min_size=1, max_size=2)
            )
            active["times"] = [{"start_time": a, "end_time": b} for a, b in ranges]
        layer["active"] = active
    return layer


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A schedule (and its layers' configuration), a range of up to 5 days near a DST change, and its overrides
    as exact UTC spans."""
    zone = draw(st.sampled_from(ZONES))
    start = draw(st.sampled_from(INTERESTING)) + timedelta(minutes=draw(st.integers(-3 * 1440, 2 * 1440)))
    end = start + timedelta(minutes=draw(st.integers(1, 5 * 1440)))
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        first = start + timedelta(minutes=draw(st.integers(-1440, 5 * 1440)))
        last = first + timedelta(minutes=draw(st.integers(1, 2 * 1440)))
        offset = timezone(timedelta(minutes=draw(st.sampled_from([0, 60, -300, 630]))))
        overrides.append((first, last, draw(st.sampled_from(OVERRIDERS)), offset))
    layers = draw(st.lists(layer_configs(), min_size=1, max_size=3))
    config = {
        "time_zone": zone,
        "layers": layers,
        "overrides": [
            {"user": who, "start": a.astimezone(off).isoformat(), "end": b.astimezone(off).isoformat()}
            for a, b, who, off in overrides
        ],
    }
    return Scenario(build(config), layers, start, end, [(a, b, who) for a, b, who, _ in overrides])


class Scenario(NamedTuple):
    schedule: Schedule
    layers: list[dict[str, Any]]
    start: datetime
    end: datetime
    overrides: list[tuple[datetime, datetime, str]]


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- properties -----------------------------------------------------------------------------------------------
@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_each_layer_has_exactly_one_user_or_a_declared_gap(scenario: Scenario, data: st.DataObject) -> None:
    schedule, configs, start, end, _ = scenario
    for layer, config in zip(schedule.layers, configs, strict=True):
        tz = ZoneInfo(layer.time_zone)
        for _ in range(3):
            at = data.draw(st.datetimes(start.replace(tzinfo=None), end.replace(tzinfo=None), timezones=st.just(UTC)))
            turn = layer.turn(at)
            assert turn.start <= at < turn.end
            assert turn.user == layer.users[turn.index % len(layer.users)]
            # the turns tile time: the next turn starts where this one ends, the previous ends where it starts
            following, previous = layer.turn(turn.end), layer.turn(turn.start - MICRO)
            assert following.start == turn.end
            assert following.index > turn.index
            assert previous.end == turn.start
            assert previous.index < turn.index
            active = layer.is_active(at)
            assert layer.oncall(at) == (turn.user if active else None)
            # active windows, recomputed from the configuration with the resolution rule
            assert active == _active_by_definition(config, at, tz)


def _active_by_definition(config: dict[str, Any], at: datetime, tz: ZoneInfo) -> bool:
    """Whether ``active`` holds at ``at``: inside a window from a resolved start to a resolved end."""
    active = config.get("active")
    if active is None:
        return True
    days: set[int] = set(range(7))
    if "weekdays" in active:
        days = set()
        for text in active["weekdays"]:
            first, _, last = text.partition(":")
            a = WEEKDAYS.index(next(d for d in WEEKDAYS if d.startswith(first)))
            b = WEEKDAYS.index(next(d for d in WEEKDAYS if d.startswith(last or first)))
            days |= {(a + i) % 7 for i in range((b - a) % 7 + 1)}
    ranges = [
        (r["start_time"], r["end_time"]) for r in active.get("times", [{"start_time": "00:00", "end_time": "24:00"}])
    ]
    here = wall(at, tz).date()
    for day in (here + timedelta(days=k) for k in range(-2, 2)):
        if day.weekday() not in days:
            continue
        for a, b in ranges:
            opens = datetime.combine(day, time.fromisoformat(a))
            end_day = day + timedelta(days=1) if b == "24:00" or b <= a else day
            closes = datetime.combine(end_day, time.fromisoformat("00:00" if b == "24:00" else b))
            if first_instant(opens, tz) <= at < first_instant(closes, tz):
                return True
    return False


@SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_rendered_schedule_agrees_with_point_queries(scenario: Scenario, data: st.DataObject) -> None:
    schedule, _, start, end, overrides = scenario
    shifts = schedule.shifts(start, end)
    # contiguous, non-overlapping, covering [start, end), adjacent equal users merged
    assert shifts[0].start == start
    assert shifts[-1].end == end
    for shift in shifts:
        assert shift.start < shift.end
        assert shift.start.tzinfo is UTC
        assert (shift.user is None) == (shift.layers == ())
    for a, b in pairwise(shifts):
        assert a.end == b.start
        assert a.user != b.user
    picks = shifts if len(shifts) <= 12 else data.draw(st.lists(st.sampled_from(shifts), min_size=12, max_size=12))
    for shift in picks:
        middle = shift.start + (shift.end - shift.start) / 2
        for at in (shift.start, shift.end - MICRO, middle):
            oncall = schedule.oncall(at)
            assert (oncall.user if oncall else None) == shift.user
            if oncall is None:
                continue
            assert oncall.layer in shift.layers
            # the point query's stretch lies within the rendered shift (clipped to the range)
            assert oncall.start is None or oncall.start <= at
            assert oncall.end is None or at < oncall.end
            assert max(oncall.start or start, start) >= shift.start
            assert min(oncall.end or end, end) <= shift.end
            # and is the same answer all along
            inside = oncall.start if oncall.start is not None and oncall.start >= start else at
            assert _same(schedule.oncall(inside), oncall)
            _check_winner(schedule, at, oncall, overrides)


def _same(a: OnCall | None, b: OnCall) -> bool:
    return a is not None and (a.user, a.layer, a.start, a.end) == (b.user, b.layer, b.start, b.end)


def _check_winner(
    schedule: Schedule, at: datetime, oncall: OnCall, overrides: list[tuple[datetime, datetime, str]]
) -> None:
    """Overrides win (the later one of overlapping ones); else the last active layer."""
    covering = [who for a, b, who in overrides if a <= at < b]
    if covering:
        assert (oncall.source, oncall.user) == ("override", covering[-1])
        return
    assert oncall.source == "layer"
    top = next(layer for layer in reversed(schedule.layers) if layer.oncall(at) is not None)
    assert (oncall.layer, oncall.user) == (top.name, top.oncall(at))


@settings(max_examples=80, deadline=None)
@given(
    zone=st.sampled_from(ZONES[1:]),
    weekly=st.booleans(),
    handoff=clock_times,
    weekday=st.sampled_from(WEEKDAYS),
    near=st.sampled_from(INTERESTING),
    minutes=st.integers(-10 * 1440, 10 * 1440),
)
def test_daily_and_weekly_handoffs_keep_the_local_time_across_dst(
    zone: str, weekly: bool, handoff: str, weekday: str, near: datetime, minutes: int
) -> None:
    tz = ZoneInfo(zone)
    spec = f"{weekday[:3]} {handoff}" if weekly else handoff
    layer = one_layer(zone, rotation="weekly" if weekly else "daily", handoff=spec)
    period = 7 if weekly else 1
    anchor = date(2026, 1, 5) + timedelta(days=(WEEKDAYS.index(weekday) if weekly else 0))
    at = near + timedelta(minutes=minutes)
    turn = layer.turn(at)
    local = time.fromisoformat(handoff)
    begins = datetime.combine(anchor + timedelta(days=period * turn.index), local)
    ends = begins + timedelta(days=period)
    assert turn.start == first_instant(begins, tz)
    assert turn.end == first_instant(ends, tz)
    # the turn is one day (one week) on the wall clock, whatever it is in real time
    if exists(begins, tz) and exists(ends, tz):
        assert wall(turn.start, tz) == begins
        assert wall(turn.end, tz) - wall(turn.start, tz) == timedelta(days=period)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    turn=st.sampled_from(["45m", "8h", "12h", "36h"]),
    anchor=st.builds(datetime.combine, anchors, st.times()).map(lambda d: d.replace(microsecond=0, second=0)),
    near=st.sampled_from(INTERESTING),
    minutes=st.integers(-10 * 1440, 10 * 1440),
)
def test_custom_turns_keep_their_elapsed_length(
    zone: str, turn: str, anchor: datetime, near: datetime, minutes: int
) -> None:
    layer = one_layer(zone, rotation="custom", turn=turn, handoff=anchor.isoformat())
    length = {
        "45m": timedelta(minutes=45),
        "8h": timedelta(hours=8),
        "12h": timedelta(hours=12),
        "36h": timedelta(hours=36),
    }
    got = layer.turn(near + timedelta(minutes=minutes))
    assert got.end - got.start == length[turn]
    start = first_instant(anchor, ZoneInfo(zone))
    assert got.start - start == length[turn] * got.index


# -- DST, table by table --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zone", "rotation", "handoff", "at", "start", "end"),
    [
        # Berlin springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST): 09:00 stays 09:00, the turn is 23 h
        ("Europe/Berlin", "daily", "09:00", u(2026, 3, 28, 12), u(2026, 3, 28, 8), u(2026, 3, 29, 7)),
        # 02:30 does not exist that day: the handoff is at 03:00 CEST, the first instant after the gap
        ("Europe/Berlin", "daily", "02:30", u(2026, 3, 29, 2), u(2026, 3, 29, 1), u(2026, 3, 30, 0, 30)),
        ("Europe/Berlin", "daily", "02:30", u(2026, 3, 28, 12), u(2026, 3, 28, 1, 30), u(2026, 3, 29, 1)),
        ("Europe/Berlin", "weekly", "mon 09:00", u(2026, 3, 25), u(2026, 3, 23, 8), u(2026, 3, 30, 7)),
        ("Europe/Berlin", "weekly", "sun 02:30", u(2026, 3, 29, 2), u(2026, 3, 29, 1), u(2026, 4, 5, 0, 30)),
        # Berlin falls back on 2026-10-25 (03:00 CEST -> 02:00 CET): the turn is 25 h
        ("Europe/Berlin", "daily", "09:00", u(2026, 10, 24, 12), u(2026, 10, 24, 7), u(2026, 10, 25, 8)),
        # 02:30 happens twice: the first (CEST) is the handoff
        ("Europe/Berlin", "daily", "02:30", u(2026, 10, 25, 2), u(2026, 10, 25, 0, 30), u(2026, 10, 26, 1, 30)),
        ("Europe/Berlin", "weekly", "mon 09:00", u(2026, 10, 21), u(2026, 10, 19, 7), u(2026, 10, 26, 8)),
        # New York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT)
        ("America/New_York", "daily", "09:00", u(2026, 3, 7, 20), u(2026, 3, 7, 14), u(2026, 3, 8, 13)),
        ("America/New_York", "daily", "02:30", u(2026, 3, 8, 8), u(2026, 3, 8, 7), u(2026, 3, 9, 6, 30)),
        ("America/New_York", "daily", "02:30", u(2026, 3, 7, 20), u(2026, 3, 7, 7, 30), u(2026, 3, 8, 7)),
        # New York falls back on 2026-11-01 (02:00 EDT -> 01:00 EST): 01:30 EDT is the handoff, the turn 25 h
        ("America/New_York", "daily", "01:30", u(2026, 11, 1, 7), u(2026, 11, 1, 5, 30), u(2026, 11, 2, 6, 30)),
        ("America/New_York", "daily", "09:00", u(2026, 10, 31, 20), u(2026, 10, 31, 13), u(2026, 11, 1, 14)),
        ("America/New_York", "weekly", "sun 01:30", u(2026, 11, 1, 7), u(2026, 11, 1, 5, 30), u(2026, 11, 8, 6, 30)),
        # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 2026-10-04, 02:00 -> 01:30 on 2026-04-05
        ("Australia/Lord_Howe", "daily", "02:15", u(2026, 10, 3, 18), u(2026, 10, 3, 15, 30), u(2026, 10, 4, 15, 15)),
        ("Australia/Lord_Howe", "daily", "09:00", u(2026, 10, 3, 12), u(2026, 10, 2, 22, 30), u(2026, 10, 3, 22)),
        ("Australia/Lord_Howe", "daily", "01:45", u(2026, 4, 4, 18), u(2026, 4, 4, 14, 45), u(2026, 4, 5, 15, 15)),
        # Apia skipped 2011-12-30 (UTC-10 -> UTC+14): that day's 09:00 is at the first instant of the 31st
        ("Pacific/Apia", "daily", "09:00", u(2011, 12, 29, 20), u(2011, 12, 29, 19), u(2011, 12, 30, 10)),
        ("Pacific/Apia", "daily", "09:00", u(2011, 12, 30, 12), u(2011, 12, 30, 10), u(2011, 12, 30, 19)),
        ("Pacific/Apia", "daily", "09:00", u(2011, 12, 31), u(2011, 12, 30, 19), u(2011, 12, 31, 19)),
        ("Pacific/Apia", "weekly", "fri 09:00", u(2011, 12, 31), u(2011, 12, 30, 10), u(2012, 1, 5, 19)),
    ],
)
def test_dst_handoff_table(
    zone: str, rotation: str, handoff: str, at: datetime, start: datetime, end: datetime
) -> None:
    turn = one_layer(zone, rotation=rotation, handoff=handoff).turn(at)
    assert (turn.start, turn.end) == (start, end)


def test_apia_keeps_the_rotation_order_through_the_skipped_day() -> None:
    layer = one_layer("Pacific/Apia", rotation="daily", handoff="09:00")
    turns = [layer.turn(u(2011, 12, 29, 20))]
    while len(turns) < 4:
        turns.append(layer.turn(turns[-1].end))
    assert [t.index for t in turns[1:]] == [t.index + 1 for t in turns[:-1]]
    assert [t.end - t.start for t in turns[:3]] == [timedelta(hours=15), timedelta(hours=9), timedelta(hours=24)]
    # the day that never was gets its user, for the nine hours between its resolved 09:00 and the 31st's
    assert wall(turns[1].start, ZoneInfo("Pacific/Apia")) == datetime(2011, 12, 31, 0, 0)


def test_a_midnight_handoff_on_the_skipped_day_lasts_no_time_and_is_skipped() -> None:
    layer = one_layer("Pacific/Apia", rotation="daily", handoff="00:00")
    before = layer.turn(u(2011, 12, 30, 9))
    after = layer.turn(before.end)
    assert after.index == before.index + 2
    assert after.start == before.end == u(2011, 12, 30, 10)


def test_custom_turns_count_elapsed_time_across_dst() -> None:
    layer = one_layer("Europe/Berlin", rotation="custom", turn="12h", handoff="2026-03-28T08:00")
    turn = layer.turn(u(2026, 3, 30, 12))
    # 08:00 CET is 07:00 UTC; twelve real hours later, always: 09:00 and 21:00 once summer time began
    assert (turn.start, turn.end) == (u(2026, 3, 30, 7), u(2026, 3, 30, 19))
    assert wall(turn.start, ZoneInfo("Europe/Berlin")).hour == 9


def test_overrides_at_nonexistent_and_ambiguous_local_times() -> None:
    schedule = build(
        {
            "time_zone": "Europe/Berlin",
            "layers": [{"rotation": "daily", "users": ["ana"]}],
            "overrides": [
                {"user": "ben", "start": "2026-03-29T02:30", "end": "2026-03-29T04:00"},
                {"user": "cara", "start": "2026-10-25T02:30", "end": "2026-10-25T05:00"},
            ],
        }
    )
    spring, autumn = (schedule.oncall(u(2026, 3, 29, 1, 30)), schedule.oncall(u(2026, 10, 25, 1)))
    assert spring is not None
    assert (spring.user, spring.start, spring.end) == ("ben", u(2026, 3, 29, 1), u(2026, 3, 29, 2))
    assert autumn is not None
    assert (autumn.user, autumn.start, autumn.end) == ("cara", u(2026, 10, 25, 0, 30), u(2026, 10, 25, 4))


def test_active_windows_resolve_like_handoffs() -> None:
    # a window opening at 02:30 on the spring-forward night opens at 03:00 CEST, the first instant after the gap
    early = one_layer(
        "Europe/Berlin", rotation="daily", active={"times": [{"start_time": "02:30", "end_time": "05:00"}]}
    )
    assert not early.is_active(u(2026, 3, 29, 0, 59))  # 01:59 CET
    assert early.is_active(u(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert not early.is_active(u(2026, 3, 29, 3, 0))  # 05:00 CEST
    # one closing at 02:30 closes then on the spring-forward night, and at the first 02:30 on the fall-back night
    late = one_layer(
        "Europe/Berlin", rotation="daily", active={"times": [{"start_time": "00:00", "end_time": "02:30"}]}
    )
    assert late.is_active(u(2026, 3, 29, 0, 59))  # 01:59 CET
    assert not late.is_active(u(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert late.is_active(u(2026, 10, 25, 0, 29))  # the first 02:29 (CEST)
    assert not late.is_active(u(2026, 10, 25, 0, 30))  # the first 02:30
    assert not late.is_active(u(2026, 10, 25, 1, 10))  # the second 02:10 (CET): the window has closed


# -- layers, overrides, presets -------------------------------------------------------------------------------
EXAMPLE = b"""
schedules:
  - name: gpu-primary
    time_zone: Europe/Berlin
    layers:
      - {name: base, rotation: weekly, handoff: "mon 09:00", users: [ana, ben], start: "2026-01-05"}
      - {rotation: daily, handoff: "18:00", users: [cara], active: {weekdays: [saturday, sunday]}}
      - {rotation: custom, turn: 12h, handoff: "2026-01-05T08:00", users: [dan, eve],
         active: {weekdays: [mon:fri], times: [{start_time: "22:00", end_time: "06:00"}]}}
    overrides:
      - {user: ben, start: "2026-03-01T09:00", end: "2026-03-02T09:00"}
  - name: llm-follow-the-sun
    preset: follow_the_sun
    regions: {apac: [kai], emea: [ana], amer: [sam]}
"""


class _Doc(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    schedules: list[ScheduleConfig] = []


def example() -> list[Schedule]:
    return [Schedule.from_config(s) for s in msgspec.yaml.decode(EXAMPLE, type=_Doc).schedules]


def test_the_example_configuration() -> None:
    gpu, _ = example()
    assert [layer.name for layer in gpu.layers] == ["base", "layers[1]", "layers[2]"]

    def who(at: datetime) -> tuple[str, str] | None:
        oncall = gpu.oncall(at)
        return None if oncall is None else (oncall.user, oncall.layer)

    assert who(u(2026, 1, 5, 7, 59)) == ("ben", "base")  # Monday 08:59 CET: still turn -1, ben's
    assert who(u(2026, 1, 5, 8, 0)) == ("ana", "base")  # 09:00 CET on start: turn 0, ana's
    assert who(u(2026, 1, 12, 8, 0)) == ("ben", "base")
    assert who(u(2026, 1, 10, 12)) == ("cara", "layers[1]")  # Saturday: the weekend layer
    assert who(u(2026, 1, 6, 22)) == ("eve", "layers[2]")  # Tuesday 23:00 CET: the night layer, 20:00-08:00 turn
    assert who(u(2026, 1, 7, 12)) == ("ana", "base")
    assert who(u(2026, 3, 1, 12)) == ("ben", "overrides[0]")  # Sunday, overridden
    weekend = gpu.oncall(u(2026, 1, 10, 12))
    assert weekend is not None
    # a single-user layer: cara's stretch runs from the end of Friday's night window (Saturday 06:00 CET) to the
    # end of the weekend (Monday 00:00 CET), through the daily handoffs
    assert (weekend.start, weekend.end) == (u(2026, 1, 10, 5), u(2026, 1, 11, 23))


def test_follow_the_sun() -> None:
    _, sun = example()
    assert [layer.name for layer in sun.layers] == ["apac", "emea", "amer"]
    for at in (u(2026, 5, 5), u(2026, 8, 16), u(2027, 1, 1)):
        assert [user_at(sun, at.replace(hour=h)) for h in (3, 10, 20)] == ["kai", "ana", "sam"]
    shifts = sun.shifts(u(2026, 5, 4), u(2026, 5, 5))
    assert [(s.user, s.start.hour, s.layers) for s in shifts] == [
        ("kai", 0, ("apac",)),
        ("ana", 8, ("emea",)),
        ("sam", 16, ("amer",)),
    ]


def test_follow_the_sun_rotates_each_region_weekly_at_its_shift_start() -> None:
    config = {"preset": "follow_the_sun", "regions": {"apac": ["kai", "kim"], "emea": ["ana", "ada"], "amer": ["sam"]}}
    sun = build(config)
    apac, emea = sun.layers[0].turn(u(2026, 1, 7)), sun.layers[1].turn(u(2026, 1, 7, 9))
    assert (apac.user, apac.start, apac.end) == ("kai", u(2026, 1, 5), u(2026, 1, 12))
    assert (emea.user, emea.start, emea.end) == ("ana", u(2026, 1, 5, 8), u(2026, 1, 12, 8))
    assert user_at(sun, u(2026, 1, 11, 23, 59)) == "sam"
    assert user_at(sun, u(2026, 1, 12, 0)) == "kim"  # APAC hands off at its shift start, Monday 00:00
    assert user_at(sun, u(2026, 1, 12, 8)) == "ada"  # EMEA at Monday 08:00
    assert user_at(sun, u(2026, 1, 19, 3)) == "kai"


def test_a_gap_when_no_layer_is_active() -> None:
    schedule = build(
        {
            "layers": [
                {
                    "rotation": "daily",
                    "users": ["ana"],
                    "active": {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
                }
            ]
        }
    )
    assert schedule.oncall(u(2026, 2, 2, 20)) is None
    shifts = schedule.shifts(u(2026, 2, 2), u(2026, 2, 3))
    assert [(s.user, s.start.hour, s.end.hour) for s in shifts] == [(None, 0, 9), ("ana", 9, 17), (None, 17, 0)]


def test_later_overrides_win_over_earlier_ones() -> None:
    schedule = build(
        {
            "layers": [{"rotation": "daily", "users": ["ana"]}],
            "overrides": [
                {"user": "ben", "start": "2026-02-02T00:00", "end": "2026-02-03T00:00"},
                {"user": "cara", "start": "2026-02-02T06:00", "end": "2026-02-02T08:00"},
            ],
        }
    )
    shifts = schedule.shifts(u(2026, 2, 1), u(2026, 2, 4))
    assert [(s.user, s.layers) for s in shifts] == [
        ("ana", ("layers[0]",)),
        ("ben", ("overrides[0]",)),
        ("cara", ("overrides[1]",)),
        ("ben", ("overrides[0]",)),
        ("ana", ("layers[0]",)),
    ]
    first = schedule.oncall(u(2026, 2, 2, 1))
    assert first is not None
    assert (first.start, first.end, first.source) == (u(2026, 2, 2), u(2026, 2, 2, 6), "override")


def test_same_user_from_two_sources_is_one_shift() -> None:
    schedule = build(
        {
            "layers": [{"rotation": "daily", "users": ["ana", "ben"]}],
            "overrides": [{"user": "ana", "start": "2026-01-06T00:00", "end": "2026-01-06T12:00"}],
        }
    )
    shifts = schedule.shifts(u(2026, 1, 5), u(2026, 1, 7))
    assert [(s.user, s.start, s.end, s.layers) for s in shifts] == [
        ("ana", u(2026, 1, 5), u(2026, 1, 6, 12), ("layers[0]", "overrides[0]")),
        ("ben", u(2026, 1, 6, 12), u(2026, 1, 7), ("layers[0]",)),
    ]


def test_naive_datetimes_are_refused() -> None:
    gpu, _ = example()
    with pytest.raises(ValueError, match="at: must be timezone-aware"):
        gpu.oncall(datetime(2026, 1, 5, 9))
    with pytest.raises(ValueError, match="start: must be timezone-aware"):
        gpu.shifts(datetime(2026, 1, 5), u(2026, 1, 6))
    with pytest.raises(ValueError, match="end: must be after start"):
        gpu.shifts(u(2026, 1, 6), u(2026, 1, 5))


def test_results_are_in_utc_whatever_the_input_zone() -> None:
    gpu, _ = example()
    berlin = datetime(2026, 1, 7, 13, tzinfo=ZoneInfo("Europe/Berlin"))
    oncall = gpu.oncall(berlin)
    assert oncall is not None
    assert oncall.start is not None
    assert oncall.start.tzinfo is UTC
    assert gpu.oncall(berlin.astimezone(UTC)) == oncall


def test_ninety_days_render_fast() -> None:
    gpu, _ = example()
    best, shifts = float("inf"), []
    for _ in range(3):
        began = clock.perf_counter()
        shifts = gpu.shifts(u(2026, 1, 1), u(2026, 4, 1))
        best = min(best, clock.perf_counter() - began)
    assert len(shifts) > 150
    assert best < 0.1
    began = clock.perf_counter()
    for i in range(200):
        gpu.oncall(u(2026, 1, 1) + timedelta(minutes=617 * i))
    assert (clock.perf_counter() - began) / 200 < 0.002


# -- iCalendar ------------------------------------------------------------------------------------------------
def test_ical_parses_back_with_one_event_per_shift() -> None:
    gpu, _ = example()
    start, end = u(2026, 2, 20), u(2026, 3, 10)
    shifts = [s for s in gpu.shifts(start, end) if s.user is not None]
    feed = gpu.ical(start, end, "GPU on call", stamp=u(2026, 2, 1))
    calendar = icalendar.Calendar.from_ical(feed)
    assert str(calendar["X-WR-CALNAME"]) == "GPU on call"
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(shifts)
    for event, shift in zip(events, shifts, strict=True):
        assert event.decoded("DTSTART") == shift.start
        assert event.decoded("DTEND") == shift.end
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)
        assert str(event["SUMMARY"]) == f"On call: {shift.user} (gpu-primary)"
    assert b"DTSTART:20260220T000000Z" in feed
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids)
    # stable: the same shifts give the same UIDs in another render (of a range starting at a shift's start)
    later = icalendar.Calendar.from_ical(gpu.ical(shifts[1].start, end + timedelta(days=7), stamp=u(2026, 3, 1)))
    assert [str(e["UID"]) for e in later.walk("VEVENT")][: len(uids) - 1] == uids[1:]


def test_ical_can_show_gaps() -> None:
    schedule = build(
        {
            "layers": [
                {
                    "rotation": "daily",
                    "users": ["ana"],
                    "active": {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
                }
            ]
        }
    )
    events = list(icalendar.Calendar.from_ical(schedule.ical(u(2026, 2, 2), u(2026, 2, 3), gaps=True)).walk("VEVENT"))
    assert [str(e["SUMMARY"]) for e in events] == ["No one on call (s)", "On call: ana (s)", "No one on call (s)"]


# -- configuration errors -------------------------------------------------------------------------------------
def _layer(**changes: Any) -> dict[str, Any]:
    """A daily layer with changes (None leaves a key out)."""
    layer = {"rotation": "daily", "handoff": "09:00", "users": ["ana"], **changes}
    return {key: value for key, value in layer.items() if value is not None}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            {"time_zone": "Mars/Olympus_Mons", "layers": [_layer()]},
            "schedules[0].time_zone: 'Mars/Olympus_Mons' is not a known",
        ),
        ({"layers": []}, "schedules[0].layers: must list at least one layer"),
        (
            {"layers": [_layer(), _layer(handoff="25:00")]},
            "schedules[0].layers[1].handoff: '25:00' is not a time of day",
        ),
        ({"layers": [_layer(handoff=1080)]}, "schedules[0].layers[0].handoff: 1080 is not a time of day: quote it"),
        (
            {"layers": [_layer(rotation="weekly", handoff="fun 09:00")]},
            "schedules[0].layers[0].handoff: 'fun' is not a weekday",
        ),
        ({"layers": [_layer(rotation="monthly")]}, "schedules[0].layers[0].rotation: Invalid enum value 'monthly'"),
        ({"layers": [_layer(users=[])]}, "schedules[0].layers[0].users: must list at least one user"),
        ({"layers": [_layer(turn="12h")]}, "schedules[0].layers[0].turn: only custom and hourly"),
        ({"layers": [_layer(rotation="custom", handoff="2026-01-05T08:00")]}, "schedules[0].layers[0].turn: a custom"),
        ({"layers": [_layer(rotation="custom", turn="12h", handoff=None)]}, "schedules[0].layers[0].handoff: a custom"),
        ({"layers": [_layer(rotation="custom", turn="12x")]}, "schedules[0].layers[0].turn: '12x' is not a duration"),
        ({"layers": [_layer(rotation="hourly", turn="90m")]}, "schedules[0].layers[0].turn: an hourly rotation"),
        ({"layers": [_layer(start="2026-02-30")]}, "schedules[0].layers[0].start: '2026-02-30' is not a date"),
        ({"layers": [_layer(handof="09:00")]}, "schedules[0].layers[0].handof: unknown key"),
        (
            {"layers": [_layer(active={"weekdays": ["monday", "caturday"]})]},
            "schedules[0].layers[0].active.weekdays[1]:",
        ),
        (
            {"layers": [_layer(active={"times": [{"start_time": "08:00", "end_time": "8am"}]})]},
            "schedules[0].layers[0].active.times[0].end_time: '8am' is not a time of day",
        ),
        ({"layers": [_layer(active={})]}, "schedules[0].layers[0].active.weekdays: give weekdays, times or both"),
        (
            {"layers": [_layer(name="x"), _layer(name="x")]},
            "schedules[0].layers[1].name: 'x' is already the name of layers[0]",
        ),
        (
            {
                "layers": [_layer()],
                "overrides": [{"user": "ben", "start": "2026-03-02T09:00", "end": "2026-03-01T09:00"}],
            },
            "schedules[0].overrides[0].end: must be after start",
        ),
        (
            {"layers": [_layer()], "overrides": [{"user": "ben", "start": "tomorrow", "end": "2026-03-01T09:00"}]},
            "schedules[0].overrides[0].start: 'tomorrow' is not a date and time",
        ),
        ({"preset": "follow_the_sun"}, "schedules[0].regions: the follow_the_sun preset needs"),
        (
            {"preset": "follow_the_sun", "regions": {"apac": ["kai"], "emea": ["ana"]}},
            "schedules[0].regions.amer: is required",
        ),
        (
            {
                "preset": "follow_the_sun",
                "regions": {"apac": ["kai"], "emea": ["ana"], "amer": ["sam"]},
                "layers": [_layer(name="emea")],
            },
            "schedules[0].layers[0].name: 'emea' is already the name of the preset's emea layer",
        ),
    ],
)
def test_config_errors_name_the_key_path(schedule: dict[str, Any], expected: str) -> None:
    document = {"schedules": [{"name": "s", **schedule}]}
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(document, _Doc)
    message = str(loader_error(info.value, "lim.yaml"))
    assert message.startswith(f"lim.yaml: {expected}"), message


def test_unquoted_yaml_dates_and_times() -> None:
    text = b"""
schedules:
  - name: s
    layers:
      - {rotation: daily, handoff: "18:00", users: [ana], start: 2026-02-02}
    overrides:
      - {user: ben, start: 2026-03-01 09:00:00, end: 2026-03-01T11:00:00+01:00}
"""
    schedule = Schedule.from_config(msgspec.yaml.decode(text, type=_Doc).schedules[0])
    assert schedule.layers[0].turn(u(2026, 2, 2, 18)).index == 0
    oncall = schedule.oncall(u(2026, 3, 1, 9, 30))
    assert oncall is not None
    assert (oncall.user, oncall.start, oncall.end) == ("ben", u(2026, 3, 1, 9), u(2026, 3, 1, 10))
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.yaml.decode(text.replace(b'"18:00"', b"18:00"), type=_Doc)
    assert 'did you mean "18:00"' in str(info.value)


def test_shift_and_oncall_are_plain_structs() -> None:
    shift = Shift(user="ana", start=u(2026, 1, 1), end=u(2026, 1, 2), layers=("base",))
    assert msgspec.json.decode(msgspec.json.encode(shift), type=Shift) == shift
