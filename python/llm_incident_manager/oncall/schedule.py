"""On-call schedules: layers of rotations, overrides, and who is on call at an instant or over a range.

Configuration (``schedules`` in the configuration file)::

    schedules:
      - name: gpu-primary
        time_zone: Europe/Berlin
        layers:
          - {name: base, rotation: weekly, handoff: "mon 09:00", users: [ana, ben], start: "2026-01-05"}
          - {rotation: daily, handoff: "18:00", users: [cara], active: {weekdays: [saturday, sunday]}}
          - {rotation: custom, turn: 12h, handoff: "2026-01-05T08:00", users: [dan, eve]}
        overrides:
          - {user: ben, start: "2026-03-01T09:00", end: "2026-03-02T09:00"}
      - name: llm-follow-the-sun
        preset: follow_the_sun
        regions: {apac: [kai], emea: [ana], amer: [sam]}

Semantics (exact; the tests check each sentence):

* **Local times.** Every local time (handoffs, ``start``, ``active`` windows, overrides without an offset) is a
  wall-clock time in the schedule's ``time_zone`` (an IANA name; default UTC). A local time is resolved to the
  *first instant whose wall clock reaches it*: a time that does not exist (the spring-forward gap) happens at the
  first instant after the gap (``02:30`` on a day clocks go from 02:00 to 03:00 is 03:00), and an ambiguous one
  (fall-back) happens at its first occurrence (``fold=0``). A day the zone skipped altogether (Pacific/Apia
  went from 2011-12-29 to 2011-12-31) resolves every time of that day to the first instant of the next.
* **Daily and weekly rotations count turns in wall-clock terms**: a daily turn hands off at the same local time
  every day (``handoff: "HH:MM"``), a weekly turn on the same weekday and local time (``handoff: "mon 09:00"``),
  across DST changes, so a turn containing a DST change is 23 h or 25 h long in real time (23.5 h or 24.5 h in
  Australia/Lord_Howe), a weekly one 167 h or 169 h. Turn 0 is ``users[0]``'s and starts on ``start`` (a date,
  default 2026-01-05, a Monday) for daily rotations, and on the first handoff weekday on or after ``start`` for
  weekly ones; turn *k* is ``users[k mod len(users)]``'s, for every integer *k*: the rotation runs back before
  ``start`` too, so a layer never has a gap of its own. A turn whose handoff and the next both fall at the same
  instant (the day Apia skipped, with a midnight handoff) lasts no time and its user is skipped.
* **Custom and hourly rotations count elapsed time**: turns of ``turn`` (``12h``, ``8h``, ...) real hours from the
  anchor, in UTC arithmetic, so across a DST change the local handoff time moves by the change (a 12 h rotation
  anchored at 08:00 CET hands off at 09:00 and 21:00 CEST). The anchor is ``handoff``: an ISO local date-time
  (``2026-01-05T08:00``, or with an offset), or a time of day (``HH:MM``) on ``start``. ``hourly`` is ``custom``
  with a turn of whole hours, default ``1h``, and a handoff of ``00:00`` by default. Use a daily rotation for a
  handoff at a fixed local time.
* **Layers.** At each instant, the last layer that is active wins; a layer is active always, or, with ``active``,
  during its windows only: ``weekdays`` (``monday``, ``mon`` or a range ``monday:friday``) and/or ``times``
  (``start_time``/``end_time`` ranges, ``end_time`` up to ``24:00``; an end not after its start runs past
  midnight into the next day, the weekday naming the day it starts). A window is the span from its resolved start
  to its resolved end (the resolution rule above), so a window ending at an ambiguous time ends at its first
  occurrence. A layer's user during a window is the user of the rotation's turn at that instant (windows do not
  pause the rotation). When no layer is active there is a gap: no one is on call (``None``).
* **Overrides** beat all layers during ``[start, end)``; of overlapping overrides the later in the list wins.
* **follow_the_sun preset**: three layers in UTC (whatever ``time_zone`` says): ``apac`` active 00:00-08:00,
  ``emea`` 08:00-16:00, ``amer`` 16:00-24:00 every day, each rotating its region's users weekly with the handoff
  on Monday at the region's shift start (``mon 00:00``, ``mon 08:00``, ``mon 16:00``) from ``start`` 2026-01-05.
  ``layers`` given with the preset are placed above its three, in the schedule's zone, and overrides apply.

Results: every method takes timezone-aware datetimes (a naive one raises ValueError) and returns UTC ones.
``Schedule.oncall(at)`` does a fixed amount of arithmetic per layer (no walk over days); its ``start``/``end`` are
the bounds of the uninterrupted stretch in which the same user is on call from the same layer or override
(``None``: unbounded, e.g. a single-user layer nothing interrupts). ``Schedule.shifts(start, end)`` renders the
final schedule: contiguous, non-overlapping shifts covering ``[start, end)``, adjacent shifts of the same user (or
two adjacent gaps) merged, each naming the layers and overrides it came from.
"""

from __future__ import annotations

import enum
import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from llm_incident_manager.config import parse_duration

__all__ = [
    "DEFAULT_START",
    "FOLLOW_THE_SUN",
    "ActiveConfig",
    "Layer",
    "LayerConfig",
    "OnCall",
    "OverrideConfig",
    "Preset",
    "RegionsConfig",
    "Rotation",
    "Schedule",
    "ScheduleConfig",
    "Shift",
    "TimeRangeConfig",
    "Turn",
]

#: the anchor of a rotation without ``start`` (a Monday)
DEFAULT_START = date(2026, 1, 5)
#: the follow_the_sun preset's regions: (layer name, shift start, shift end) in UTC
FOLLOW_THE_SUN = (("apac", "00:00", "08:00"), ("emea", "08:00", "16:00"), ("amer", "16:00", "24:00"))

_DAY = 86400
_WEEK = 7 * _DAY
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
#: how far in wall-clock time from an instant a window that could contain it may start or end
_BAND = timedelta(days=2)
_T = TypeVar("_T")


class Rotation(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"
    HOURLY = "hourly"


class Preset(enum.StrEnum):
    FOLLOW_THE_SUN = "follow_the_sun"


# -- parsing the values of the configuration ------------------------------------------------------------------
def _time_of_day(value: object, *, allow_24: bool = False) -> int:
    """Seconds after midnight of ``HH:MM`` (or ``HH:MM:SS``)."""
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        msg = f"{value!r} is not a time of day (HH:MM)"
        if isinstance(value, int) and not isinstance(value, bool):
            hint = f' (did you mean "{value // 60:02d}:{value % 60:02d}"?)' if 0 <= value <= 24 * 60 else ""
            msg = f"{value} is not a time of day: quote it, YAML reads an unquoted 18:00 as the number 1080{hint}"
        raise ValueError(msg)
    hours, minutes, secs = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    total = hours * 3600 + minutes * 60 + secs
    if minutes > 59 or secs > 59 or total > _DAY or (total == _DAY and not allow_24):
        limit = "00:00 to 24:00" if allow_24 else "00:00 to 23:59"
        msg = f"{value!r} is not a time of day ({limit})"
        raise ValueError(msg)
    return total


def _weekday(text: str) -> int:
    word = text.strip().lower()
    for i, name in enumerate(_WEEKDAYS):
        if word in (name, name[:3]):
            return i
    msg = f"{text!r} is not a weekday (monday to sunday, or mon to sun)"
    raise ValueError(msg)


def _weekdays(text: str) -> list[int]:
    """The days of ``monday``, ``mon`` or a range ``monday:friday`` (a range may wrap: ``saturday:monday``)."""
    first, sep, last = text.partition(":")
    if not sep:
        return [_weekday(text)]
    a, b = _weekday(first), _weekday(last)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


def _weekly_handoff(value: object) -> tuple[int, int]:
    """(weekday, seconds after midnight) of ``mon 09:00`` (``monday 09:00``; ``mon`` is at 00:00)."""
    if not isinstance(value, str) or not value.split():
        msg = f'{value!r} is not a weekly handoff (a weekday and a time: "mon 09:00")'
        raise ValueError(msg)
    parts = value.split()
    if len(parts) > 2:
        msg = f'{value!r} is not a weekly handoff (a weekday and a time: "mon 09:00")'
        raise ValueError(msg)
    return _weekday(parts[0]), _time_of_day(parts[1]) if len(parts) == 2 else 0


def _date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    msg = f"{value!r} is not a date (YYYY-MM-DD)"
    raise ValueError(msg)


def _datetime(value: object) -> datetime:
    """A local date-time (naive) or one with an offset; a date alone is its midnight."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str) and len(value.strip()) >= 10:
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    msg = f"{value!r} is not a date and time (ISO 8601: 2026-03-01T09:00, optionally with an offset)"
    raise ValueError(msg)


def _is_time_of_day(value: object) -> bool:
    """Whether a handoff is a time of day (or the number YAML makes of an unquoted one), not a date-time."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and ":" in value.strip()[:3])


def _turn(value: str | float) -> timedelta:
    seconds = parse_duration(value) if isinstance(value, str) else float(value)
    return timedelta(seconds=seconds)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        msg = f"{name!r} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
        raise ValueError(msg) from None


def _field(name: str, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``func(*args)``, its ValueError prefixed with the field's name."""
    try:
        return func(*args, **kwargs)
    except ValueError as exc:
        msg = f"{name}: {exc}"
        raise ValueError(msg) from None


# -- configuration --------------------------------------------------------------------------------------------
class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class TimeRangeConfig(_Strict, kw_only=True, frozen=True):
    """``start_time``/``end_time`` (``HH:MM``; end up to ``24:00``; an end not after the start runs past midnight)."""

    start_time: str | int
    end_time: str | int

    def __post_init__(self) -> None:
        start = _field("start_time", _time_of_day, self.start_time)
        end = _field("end_time", _time_of_day, self.end_time, allow_24=True)
        if start == end % _DAY:
            msg = "end_time: must differ from start_time (use 00:00 to 24:00 for the whole day)"
            raise ValueError(msg)

    def seconds(self) -> tuple[int, int]:
        return _time_of_day(self.start_time), _time_of_day(self.end_time, allow_24=True)


class ActiveConfig(_Strict, kw_only=True, frozen=True):
    """When a layer is active, in the schedule's zone: on these weekdays, in these times (both: each time range
    on each of the weekdays)."""

    weekdays: list[str] | None = None
    times: list[TimeRangeConfig] | None = None

    def __post_init__(self) -> None:
        if self.weekdays is None and self.times is None:
            msg = "weekdays: give weekdays, times or both (or leave active out: always active)"
            raise ValueError(msg)
        if self.weekdays is not None:
            if not self.weekdays:
                msg = "weekdays: must list at least one weekday"
                raise ValueError(msg)
            for i, text in enumerate(self.weekdays):
                _field(f"weekdays[{i}]", _weekdays, text)
        if self.times is not None and not self.times:
            msg = "times: must list at least one range"
            raise ValueError(msg)

    def days(self) -> list[int]:
        if self.weekdays is None:
            return list(range(7))
        return sorted({day for text in self.weekdays for day in _weekdays(text)})


class LayerConfig(_Strict, kw_only=True, frozen=True):
    """One rotation of ``users``; ``handoff``, ``turn`` and ``start`` as the module docstring says per rotation."""

    rotation: Rotation
    users: list[str]
    name: str | None = None
    #: daily ``HH:MM`` (default 00:00); weekly ``mon 09:00`` (default mon 00:00); custom and hourly: an ISO local
    #: date-time anchor, or ``HH:MM`` on ``start`` (hourly default 00:00; custom requires it)
    handoff: Any = None
    #: custom (required) and hourly (whole hours, default 1h): the length of a turn, in elapsed time
    turn: str | float | None = None
    #: the date turn 0 starts (default 2026-01-05)
    start: Any = None
    active: ActiveConfig | None = None

    def __post_init__(self) -> None:
        if not self.users:
            msg = "users: must list at least one user"
            raise ValueError(msg)
        for i, user in enumerate(self.users):
            if not user.strip():
                msg = f"users[{i}]: must not be empty"
                raise ValueError(msg)
        if self.name is not None and not self.name.strip():
            msg = "name: must not be empty"
            raise ValueError(msg)
        if self.start is not None:
            _field("start", _date, self.start)
        if self.rotation in (Rotation.DAILY, Rotation.WEEKLY):
            if self.turn is not None:
                msg = f"turn: only custom and hourly rotations take a turn length (a {self.rotation} turn is one "
                msg += "day)" if self.rotation == Rotation.DAILY else "week)"
                raise ValueError(msg)
            if self.handoff is not None:
                parse = _time_of_day if self.rotation == Rotation.DAILY else _weekly_handoff
                _field("handoff", parse, self.handoff)
            return
        turn = self.turn_length()
        if self.rotation == Rotation.HOURLY and (turn < timedelta(hours=1) or turn % timedelta(hours=1)):
            msg = "turn: an hourly rotation's turn is a whole number of hours (use custom for other lengths)"
            raise ValueError(msg)
        if turn < timedelta(minutes=1):
            msg = "turn: must be at least 1m"
            raise ValueError(msg)
        if self.handoff is None:
            if self.rotation == Rotation.CUSTOM:
                msg = 'handoff: a custom rotation needs its anchor (an ISO local date-time, "2026-01-05T08:00")'
                raise ValueError(msg)
        elif _is_time_of_day(self.handoff):
            _field("handoff", _time_of_day, self.handoff)
        else:
            _field("handoff", _datetime, self.handoff)
            if self.start is not None:
                msg = "start: the handoff date-time is the anchor already (give start with a handoff time of day)"
                raise ValueError(msg)

    def turn_length(self) -> timedelta:
        """The length of a custom or hourly turn."""
        if self.turn is None:
            if self.rotation == Rotation.HOURLY:
                return timedelta(hours=1)
            msg = "turn: a custom rotation needs its length (e.g. 12h)"
            raise ValueError(msg)
        return _field("turn", _turn, self.turn)

    def start_date(self) -> date:
        return DEFAULT_START if self.start is None else _date(self.start)


class OverrideConfig(_Strict, kw_only=True, frozen=True):
    """``user`` is on call during ``[start, end)`` whatever the layers say (local times, or with an offset)."""

    user: str
    start: Any
    end: Any

    def __post_init__(self) -> None:
        if not self.user.strip():
            msg = "user: must not be empty"
            raise ValueError(msg)
        _field("start", _datetime, self.start)
        _field("end", _datetime, self.end)


class RegionsConfig(_Strict, kw_only=True, frozen=True):
    """The users of each follow_the_sun region."""

    apac: list[str]
    emea: list[str]
    amer: list[str]

    def __post_init__(self) -> None:
        for region in ("apac", "emea", "amer"):
            users: list[str] = getattr(self, region)
            if not users or not all(user.strip() for user in users):
                msg = f"{region}: must list at least one user, none empty"
                raise ValueError(msg)


class ScheduleConfig(_Strict, kw_only=True, frozen=True):
    name: str
    time_zone: str = "UTC"
    layers: list[LayerConfig] = []
    overrides: list[OverrideConfig] = []
    preset: Preset | None = None
    regions: RegionsConfig | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            msg = "name: must not be empty"
            raise ValueError(msg)
        tz = _field("time_zone", _zone, self.time_zone)
        if self.preset is None:
            if not self.layers:
                msg = "layers: must list at least one layer (or give preset: follow_the_sun)"
                raise ValueError(msg)
            if self.regions is not None:
                msg = "regions: only the follow_the_sun preset takes regions"
                raise ValueError(msg)
        elif self.regions is None:
            msg = "regions: the follow_the_sun preset needs its regions' users (apac, emea, amer)"
            raise ValueError(msg)
        names: dict[str, str] = {}
        if self.preset is not None:
            names.update((region, f"the preset's {region} layer") for region, _, _ in FOLLOW_THE_SUN)
        for i, layer in enumerate(self.layers):
            name = layer.name if layer.name is not None else f"layers[{i}]"
            if name in names:
                msg = f"layers[{i}].name: {name!r} is already the name of {names[name]}"
                raise ValueError(msg)
            names[name] = f"layers[{i}]"
        for i, override in enumerate(self.overrides):
            start, end = _local(_datetime(override.start), tz), _local(_datetime(override.end), tz)
            if end <= start:
                msg = f"overrides[{i}].end: must be after start ({override.start} to {override.end} in {tz.key})"
                raise ValueError(msg)


# -- results --------------------------------------------------------------------------------------------------
class OnCall(msgspec.Struct, kw_only=True, frozen=True):
    """Who is on call at an instant, from which layer or override, and the bounds of that stretch (``None``:
    unbounded)."""

    user: str
    #: the layer's name (``layers[i]`` when it has none) or ``overrides[i]``
    layer: str
    start: datetime | None
    end: datetime | None
    source: Literal["layer", "override"]


class Shift(msgspec.Struct, kw_only=True, frozen=True):
    """A stretch of the rendered schedule: ``user`` (``None``: a gap) from ``start`` to ``end``."""

    user: str | None
    start: datetime
    end: datetime
    #: the layers and overrides (``overrides[i]``) the shift was drawn from, in order; empty for a gap
    layers: tuple[str, ...] = ()


class Turn(msgspec.Struct, kw_only=True, frozen=True):
    """One turn of a layer's rotation: turn ``index`` (0 from the anchor) is ``users[index % len(users)]``'s."""

    index: int
    user: str
    start: datetime
    end: datetime


# -- time arithmetic ------------------------------------------------------------------------------------------
def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name}: must be timezone-aware (a naive datetime is ambiguous)"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of a UTC instant in tz."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) whose wall clock in tz reaches ``wall``: the instant itself when it exists once,
    its first occurrence when ambiguous, the end of the gap when it does not exist."""
    before = wall.replace(tzinfo=tz).utcoffset() or timedelta(0)
    after = wall.replace(tzinfo=tz, fold=1).utcoffset() or timedelta(0)
    if before >= after:  # unambiguous, or a fold whose first occurrence has the earlier offset
        return (wall - before).replace(tzinfo=UTC)
    # a gap: the transition lies between wall - after (still the old offset) and wall - before (the new one)
    lo = int((wall - after).replace(tzinfo=UTC).timestamp()) - 1
    hi = int((wall - before).replace(tzinfo=UTC).timestamp()) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    """A configured date-time as a UTC instant: with its offset, or resolved as a local time in tz."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return _resolve(value.replace(tzinfo=None), tz)


def _later(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _earlier(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted spans without the empty ones, overlapping or touching ones joined."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


class _WallRotation:
    """Turns of ``period`` days handing off at a local time: boundary j is day ``anchor + j * period`` at ``at``."""

    def __init__(self, tz: ZoneInfo, anchor: date, period: int, at: int) -> None:
        self.tz, self.period, self.at = tz, period, timedelta(seconds=at)
        self.anchor = datetime.combine(anchor, time())

    def boundary(self, j: int) -> datetime:
        return _resolve(self.anchor + timedelta(days=self.period * j) + self.at, self.tz)

    def index(self, instant: datetime) -> int:
        """The turn j with boundary(j) <= instant < boundary(j + 1) (a turn lasting no time is never it)."""
        j = (_wall(instant, self.tz) - self.anchor).days // self.period
        while self.boundary(j) > instant:
            j -= 1
        while self.boundary(j + 1) <= instant:
            j += 1
        return j


class _ElapsedRotation:
    """Turns of a fixed elapsed length from an anchor instant."""

    def __init__(self, anchor: datetime, turn: timedelta) -> None:
        self.anchor, self.turn = anchor, turn

    def boundary(self, j: int) -> datetime:
        return self.anchor + self.turn * j

    def index(self, instant: datetime) -> int:
        return (instant - self.anchor) // self.turn


class _Windows:
    """When a layer is active: always (``pattern`` None), or a weekly pattern of local spans (seconds after
    Monday 00:00, within the week, merged), each resolved to instants by the rule of ``_resolve``."""

    def __init__(self, tz: ZoneInfo, pattern: Sequence[tuple[int, int]] | None) -> None:
        self.tz = tz
        self.pattern = None if pattern is None else [(timedelta(seconds=a), timedelta(seconds=b)) for a, b in pattern]
        # the pattern unrolled over weeks -2..2 around an instant's week, joined across the weeks' edges
        unrolled: list[tuple[int, int]] = []
        for week in range(-2, 3):
            for a, b in pattern or ():
                first, last = a + week * _WEEK, b + week * _WEEK
                if unrolled and first <= unrolled[-1][1]:
                    unrolled[-1] = (unrolled[-1][0], max(last, unrolled[-1][1]))
                else:
                    unrolled.append((first, last))
        self.starts = [timedelta(seconds=a) for a, _ in unrolled]
        self.ends = [timedelta(seconds=b) for _, b in unrolled]

    @property
    def always(self) -> bool:
        return self.pattern is None

    def locate(self, instant: datetime) -> tuple[bool, datetime | None, datetime | None]:
        """(True, window start, window end) when active at instant, else (False, previous window's end, next
        window's start); None is unbounded."""
        if self.pattern is None:
            return True, None, None
        wall = _wall(instant, self.tz)
        monday = datetime.combine(wall.date() - timedelta(days=wall.weekday()), time())
        offset = wall - monday
        lo = max(bisect_right(self.ends, offset - _BAND) - 2, 0)
        hi = min(bisect_left(self.starts, offset + _BAND) + 2, len(self.starts))
        windows = _merge(
            [
                (_resolve(monday + self.starts[i], self.tz), _resolve(monday + self.ends[i], self.tz))
                for i in range(lo, hi)
            ]
        )
        previous: datetime | None = None
        for start, end in windows:
            if start <= instant < end:
                return True, start, end
            if start > instant:
                return False, previous, start
            previous = end
        return False, previous, None

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The windows in ``[start, end)``, clipped to it."""
        if self.pattern is None:
            return [(start, end)]
        first = _wall(start, self.tz) - timedelta(days=3)
        last = _wall(end, self.tz) + timedelta(days=3)
        monday = datetime.combine(first.date() - timedelta(days=first.weekday()), time())
        spans: list[tuple[datetime, datetime]] = []
        while monday < last:
            for a, b in self.pattern:
                spans.append((_resolve(monday + a, self.tz), _resolve(monday + b, self.tz)))
            monday += timedelta(days=7)
        return _merge([(max(a, start), min(b, end)) for a, b in _merge(spans) if b > start and a < end])


def _pattern(active: ActiveConfig | None) -> list[tuple[int, int]] | None:
    """The weekly spans of ``active`` (seconds after Monday 00:00), merged; None when always active."""
    if active is None:
        return None
    ranges = [(0, _DAY)] if active.times is None else [r.seconds() for r in active.times]
    spans: list[tuple[int, int]] = []
    for day in active.days():
        for start, end in ranges:
            a = day * _DAY + start
            b = day * _DAY + end if end > start else (day + 1) * _DAY + end
            if b <= _WEEK:
                spans.append((a, b))
            else:
                spans += [(a, _WEEK), (0, b - _WEEK)]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return None if merged == [(0, _WEEK)] else merged


# -- the compiled schedule ------------------------------------------------------------------------------------
class Layer:
    """A compiled layer: its rotation and when it is active."""

    def __init__(self, config: LayerConfig, name: str, tz: ZoneInfo) -> None:
        self.name = name
        self.users = tuple(config.users)
        self.rotation = config.rotation
        self.time_zone = tz.key
        self._rotation = _rotation(config, tz)
        self._windows = _Windows(tz, _pattern(config.active))
        # how many turns before and after turn i (mod n) belong to the same user; None: all of them
        n = len(self.users)
        self._constant = len(set(self.users)) == 1
        self._back = [0] * n
        self._ahead = [0] * n
        if not self._constant:
            for i in range(n):
                while self.users[(i - self._back[i] - 1) % n] == self.users[i]:
                    self._back[i] += 1
                while self.users[(i + self._ahead[i] + 1) % n] == self.users[i]:
                    self._ahead[i] += 1

    def turn(self, at: datetime) -> Turn:
        """The rotation's turn at ``at`` (whether or not the layer is active then)."""
        instant = _utc(at, "at")
        j = self._rotation.index(instant)
        return Turn(
            index=j,
            user=self.users[j % len(self.users)],
            start=self._rotation.boundary(j),
            end=self._rotation.boundary(j + 1),
        )

    def is_active(self, at: datetime) -> bool:
        return self._windows.locate(_utc(at, "at"))[0]

    def oncall(self, at: datetime) -> str | None:
        """This layer's user at ``at``, or None when the layer is not active then."""
        instant = _utc(at, "at")
        if not self._windows.locate(instant)[0]:
            return None
        return self.users[self._rotation.index(instant) % len(self.users)]

    def _run(self, instant: datetime) -> tuple[str, datetime | None, datetime | None]:
        """The user of the turn at instant and the bounds of that user's consecutive turns."""
        j = self._rotation.index(instant)
        i = j % len(self.users)
        if self._constant:
            return self.users[i], None, None
        return (
            self.users[i],
            self._rotation.boundary(j - self._back[i]),
            self._rotation.boundary(j + self._ahead[i] + 1),
        )

    def _segments(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str, str]]:
        """(start, end, user, layer) where the layer is active within ``[start, end)``."""
        out: list[tuple[datetime, datetime, str, str]] = []
        n = len(self.users)
        for a, b in self._windows.between(start, end):
            j = self._rotation.index(a)
            lo = a
            while lo < b:
                hi = min(self._rotation.boundary(j + 1), b)
                if hi > lo:
                    out.append((lo, hi, self.users[j % n], self.name))
                lo, j = max(hi, lo), j + 1
        return out


def _rotation(config: LayerConfig, tz: ZoneInfo) -> _WallRotation | _ElapsedRotation:
    start = config.start_date()
    if config.rotation == Rotation.DAILY:
        at = 0 if config.handoff is None else _time_of_day(config.handoff)
        return _WallRotation(tz, start, 1, at)
    if config.rotation == Rotation.WEEKLY:
        weekday, at = (0, 0) if config.handoff is None else _weekly_handoff(config.handoff)
        return _WallRotation(tz, start + timedelta(days=(weekday - start.weekday()) % 7), 7, at)
    if config.handoff is None or _is_time_of_day(config.handoff):
        at = 0 if config.handoff is None else _time_of_day(config.handoff)
        anchor = _resolve(datetime.combine(start, time()) + timedelta(seconds=at), tz)
    else:
        anchor = _local(_datetime(config.handoff), tz)
    return _ElapsedRotation(anchor, config.turn_length())


class _Overrides:
    """The overrides flattened: disjoint pieces ``(start, end, user, label)``, the later override winning."""

    def __init__(self, overrides: Sequence[OverrideConfig], tz: ZoneInfo) -> None:
        spans = [
            (_local(_datetime(o.start), tz), _local(_datetime(o.end), tz), o.user, f"overrides[{i}]")
            for i, o in enumerate(overrides)
        ]
        points = sorted({p for s in spans for p in s[:2]})
        pieces: list[tuple[datetime, datetime, str, str]] = []
        for a, b in pairwise(points):
            top = next((s for s in reversed(spans) if s[0] <= a and b <= s[1]), None)
            if top is None:
                continue
            if pieces and pieces[-1][1] == a and pieces[-1][3] == top[3]:
                pieces[-1] = (pieces[-1][0], b, top[2], top[3])
            else:
                pieces.append((a, b, top[2], top[3]))
        self.pieces = pieces
        self.starts = [p[0] for p in pieces]

    def locate(
        self, instant: datetime
    ) -> tuple[tuple[datetime, datetime, str, str] | None, datetime | None, datetime | None]:
        """(the piece at instant, previous piece's end, next piece's start)."""
        i = bisect_right(self.starts, instant) - 1
        if i >= 0 and instant < self.pieces[i][1]:
            return self.pieces[i], None, None
        previous = self.pieces[i][1] if i >= 0 else None
        following = self.pieces[i + 1][0] if i + 1 < len(self.pieces) else None
        return None, previous, following

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str, str]]:
        first = max(bisect_right(self.starts, start) - 1, 0)
        last = bisect_left(self.starts, end)
        return [
            (max(a, start), min(b, end), user, label)
            for a, b, user, label in self.pieces[first:last]
            if b > start and a < end
        ]


class Schedule:
    """A compiled schedule (``Schedule.from_config``): who is on call at an instant and over a range."""

    def __init__(self, name: str, time_zone: ZoneInfo, layers: Sequence[Layer], overrides: _Overrides) -> None:
        self.name = name
        self.time_zone = time_zone.key
        self.layers = tuple(layers)
        self._overrides = overrides

    @classmethod
    def from_config(cls, config: ScheduleConfig) -> Schedule:
        tz = _zone(config.time_zone)
        layers: list[Layer] = []
        if config.preset == Preset.FOLLOW_THE_SUN:
            regions = config.regions or RegionsConfig(apac=[], emea=[], amer=[])
            for region, start, end in FOLLOW_THE_SUN:
                preset = LayerConfig(
                    name=region,
                    rotation=Rotation.WEEKLY,
                    handoff=f"mon {start}",
                    users=list(getattr(regions, region)),
                    active=ActiveConfig(times=[TimeRangeConfig(start_time=start, end_time=end)]),
                )
                layers.append(Layer(preset, region, ZoneInfo("UTC")))
        for i, layer in enumerate(config.layers):
            layers.append(Layer(layer, layer.name if layer.name is not None else f"layers[{i}]", tz))
        return cls(config.name, tz, layers, _Overrides(config.overrides, tz))

    def oncall(self, at: datetime) -> OnCall | None:
        """Who is on call at ``at`` (None: a gap), with the bounds of that user's uninterrupted stretch from the
        same layer or override."""
        instant = _utc(at, "at")
        piece, lo, hi = self._overrides.locate(instant)
        if piece is not None:
            return OnCall(user=piece[2], layer=piece[3], start=piece[0], end=piece[1], source="override")
        for layer in reversed(self.layers):
            active, start, end = layer._windows.locate(instant)
            if not active:
                lo, hi = _later(lo, start), _earlier(hi, end)
                continue
            user, first, last = layer._run(instant)
            return OnCall(
                user=user,
                layer=layer.name,
                start=_later(lo, start, first),
                end=_earlier(hi, end, last),
                source="layer",
            )
        return None

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """The rendered schedule over ``[start, end)``: contiguous, non-overlapping shifts covering it (gaps
        included, with user None), adjacent shifts of the same user merged."""
        lo, hi = _utc(start, "start"), _utc(end, "end")
        if hi <= lo:
            msg = "end: must be after start"
            raise ValueError(msg)
        # tracks in rising priority: the layers in order, then the overrides
        tracks = [layer._segments(lo, hi) for layer in self.layers]
        tracks.append(self._overrides.between(lo, hi))
        points = sorted({lo, hi, *(p for track in tracks for segment in track for p in segment[:2])})
        position = [0] * len(tracks)
        rendered: list[tuple[str | None, datetime, datetime, list[str]]] = []
        for a, b in pairwise(points):
            winner: tuple[datetime, datetime, str, str] | None = None
            for k in range(len(tracks) - 1, -1, -1):
                track, p = tracks[k], position[k]
                while p < len(track) and track[p][1] <= a:
                    p += 1
                position[k] = p
                if p < len(track) and track[p][0] <= a:
                    winner = track[p]
                    break
            user = None if winner is None else winner[2]
            if rendered and rendered[-1][0] == user:
                rendered[-1] = (user, rendered[-1][1], b, rendered[-1][3])
            else:
                rendered.append((user, a, b, []))
            if winner is not None and winner[3] not in rendered[-1][3]:
                rendered[-1][3].append(winner[3])
        return [Shift(user=user, start=a, end=b, layers=tuple(names)) for user, a, b, names in rendered]

    def ical(
        self,
        start: datetime,
        end: datetime,
        calendar_name: str | None = None,
        *,
        gaps: bool = False,
        stamp: datetime | None = None,
    ) -> bytes:
        """An iCalendar (RFC 5545) feed of the shifts in ``[start, end)``: one VEVENT per shift with a user (and
        per gap with ``gaps``), DTSTART/DTEND in UTC, a UID that is a hash of schedule, user and start (stable
        across renders; a shift cut by ``start`` starts there). ``stamp`` is the DTSTAMP (default now)."""
        import icalendar

        name = calendar_name or f"On call: {self.name}"
        stamped = datetime.now(UTC) if stamp is None else _utc(stamp, "stamp")
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//llm-incident-manager//on-call schedules//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("x-wr-calname", name)
        calendar.add("name", name)
        for shift in self.shifts(start, end):
            if shift.user is None and not gaps:
                continue
            who = "" if shift.user is None else shift.user
            key = f"{self.name}\0{who}\0{shift.start.isoformat()}".encode()
            event = icalendar.Event()
            event.add("uid", f"{hashlib.sha256(key).hexdigest()[:32]}@llm-incident-manager")
            event.add("dtstamp", stamped)
            event.add("dtstart", shift.start)
            event.add("dtend", shift.end)
            if shift.user is None:
                event.add("summary", f"No one on call ({self.name})")
            else:
                event.add("summary", f"On call: {shift.user} ({self.name})")
                event.add("description", "From: " + ", ".join(shift.layers))
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
        return bytes(calendar.to_ical())
