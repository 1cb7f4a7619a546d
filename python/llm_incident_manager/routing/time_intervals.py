"""Alertmanager's ``time_intervals`` (and the older name ``mute_time_intervals``): named sets of moments that
routes mute in (``mute_time_intervals``) or are active in only (``active_time_intervals``).

```yaml
time_intervals:
  - name: business-hours
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: ["monday:friday"]
        location: Europe/Berlin
```

Alertmanager's rules: a named interval contains a moment when any of its entries does; an entry contains it when
every field it sets does (an entry without fields contains every moment; a field set to an empty list, none).
Each field is a list of which one must match. ``times`` are ``HH:MM`` from ``00:00`` to ``24:00``, the start
included and the end excluded, compared with the hour and minute on the clock of ``location``. ``weekdays``
(``monday``), ``days_of_month`` (``1`` to ``31``, or ``-1`` for the last day to ``-31``), ``months`` (``january``
or ``1``) and ``years`` are ranges ``start:end`` (or single values) with both ends included; names in any case.
A day of the month past the end of the month clamps to its last day (``1:31`` is every day of February) and a range
that starts after it is empty (``30:31`` in February). ``location`` is an IANA time zone (default ``UTC``;
``Local`` is this machine's); the clock is read there, so daylight saving time moves the interval with the
clock, and the month length is the calendar's.

Not Alertmanager's: months outside 1-12 are refused (Alertmanager accepts ``13`` and never matches it). An
unquoted ``17:00`` or ``1:5`` in YAML 1.1 (which this configuration is read as) is a base-60 number (1020, 65);
such numbers are read back as the ``17:00`` or ``1:5`` they were written as.
"""

from __future__ import annotations

import calendar
import functools
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import msgspec

__all__ = ["MONTHS", "WEEKDAYS", "NamedTimeInterval", "TimeInterval", "TimeRange", "active_intervals"]

#: Alertmanager's numbering: sunday is 0
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
#: Go's strconv.Atoi: an optional sign and ASCII digits
_INT = re.compile(r"[+-]?[0-9]+")


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


# -- the parts, parsed once per distinct text --------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _minute_of_day(text: str) -> int:
    if not _TIME.fullmatch(text):
        msg = f"{_q(text)} is not a time of day (HH:MM, from 00:00 to 24:00)"
        raise ValueError(msg)
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _bounds(text: str, member: Callable[[str], int]) -> tuple[int, int]:
    """``start:end`` or a single value, each end read by ``member``."""
    parts = text.split(":")
    if len(parts) > 2:
        msg = f"{_q(text)} is not a range (start:end)"
        raise ValueError(msg)
    return member(parts[0]), member(parts[-1])


def _weekday(text: str) -> int:
    try:
        return WEEKDAYS.index(text.lower())
    except ValueError:
        msg = f"{_q(text)} is not a weekday"
        raise ValueError(msg) from None


def _month(text: str) -> int:
    if text.lower() in MONTHS:
        return MONTHS.index(text.lower()) + 1
    if _INT.fullmatch(text) and 1 <= int(text) <= 12:
        return int(text)
    msg = f"{_q(text)} is not a month"
    raise ValueError(msg)


def _day(text: str) -> int:
    if _INT.fullmatch(text) and int(text) != 0 and -31 <= int(text) <= 31:
        return int(text)
    msg = f"{_q(text)} is not a day of the month (1 to 31, or -1 for the last day to -31)"
    raise ValueError(msg)


def _year(text: str) -> int:
    if _INT.fullmatch(text):
        return int(text)
    msg = f"{_q(text)} is not a year"
    raise ValueError(msg)


@functools.lru_cache(maxsize=1024)
def _weekday_range(text: str) -> tuple[int, int]:
    begin, end = _bounds(text, _weekday)
    if begin > end:
        msg = f"{_q(text)}: {WEEKDAYS[end]} comes before {WEEKDAYS[begin]} in the week (sunday to saturday)"
        raise ValueError(msg)
    return begin, end


@functools.lru_cache(maxsize=1024)
def _day_range(text: str) -> tuple[int, int]:
    begin, end = _bounds(text, _day)
    if begin < 0 < end:
        msg = f"{_q(text)}: a range that starts counting from the end of the month must end so too"
        raise ValueError(msg)
    # as Alertmanager: what is reversed in a 28-day month is refused (whatever the month)
    if (begin + 28 if begin < 0 else begin) > (end + 28 if end < 0 else end):
        msg = f"{_q(text)}: the end day {end} is always before the start day {begin}"
        raise ValueError(msg)
    return begin, end


@functools.lru_cache(maxsize=1024)
def _month_range(text: str) -> tuple[int, int]:
    begin, end = _bounds(text, _month)
    if begin > end:
        msg = f"{_q(text)}: {MONTHS[end - 1]} comes before {MONTHS[begin - 1]}"
        raise ValueError(msg)
    return begin, end


@functools.lru_cache(maxsize=1024)
def _year_range(text: str) -> tuple[int, int]:
    begin, end = _bounds(text, _year)
    if begin > end:
        msg = f"{_q(text)}: {end} is before {begin}"
        raise ValueError(msg)
    return begin, end


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    """The time zone of a ``location`` (None: this machine's, Go's ``Local``)."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        msg = f"unknown time zone {_q(name)}"
        raise ValueError(msg) from None


def _time_text(value: str | int) -> str:
    """YAML 1.1 reads an unquoted ``17:00`` as the base-60 number 1020: the minutes of the day it was written as."""
    if isinstance(value, int) and 0 <= value <= 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return str(value)


def _range_text(value: str | int, *, base60: bool) -> str:
    """The text of a range entry. A number of YAML 1.1's base 60 (an unquoted ``1:5`` is 65) is read back as
    written: ``base60`` where no single value is 60 or more (days of the month, months)."""
    if isinstance(value, int) and base60 and abs(value) >= 60:
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 60}:{abs(value) % 60}"
    return str(value)


# -- the configuration ---------------------------------------------------------------------------------------------
class TimeRange(_Strict, kw_only=True, frozen=True):
    """``start_time`` (included) to ``end_time`` (excluded), ``HH:MM`` from ``00:00`` to ``24:00``."""

    start_time: str | int
    end_time: str | int

    def __post_init__(self) -> None:
        for name in ("start_time", "end_time"):
            text = _time_text(getattr(self, name))
            try:
                _minute_of_day(text)
            except ValueError as exc:
                msg = f"{name}: {exc}"
                raise ValueError(msg) from None
            msgspec.structs.force_setattr(self, name, text)
        if self.start_minute >= self.end_minute:
            msg = f"end_time: {_q(str(self.end_time))} is not after start_time {_q(str(self.start_time))}"
            raise ValueError(msg)

    @property
    def start_minute(self) -> int:
        return _minute_of_day(str(self.start_time))

    @property
    def end_minute(self) -> int:
        return _minute_of_day(str(self.end_time))


_RANGE_FIELDS: tuple[tuple[str, Callable[[str], tuple[int, int]], bool], ...] = (
    ("weekdays", _weekday_range, False),
    ("days_of_month", _day_range, True),
    ("months", _month_range, True),
    ("years", _year_range, False),
)


class TimeInterval(_Strict, kw_only=True, frozen=True):
    """One entry of a named interval's ``time_intervals``: the moments every field it sets contains."""

    times: list[TimeRange] | None = None
    weekdays: list[str | int] | None = None
    days_of_month: list[str | int] | None = None
    months: list[str | int] | None = None
    years: list[str | int] | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        for name, parse, base60 in _RANGE_FIELDS:
            values = getattr(self, name)
            if values is None:
                continue
            texts = [_range_text(value, base60=base60) for value in values]
            for i, text in enumerate(texts):
                try:
                    parse(text)
                except ValueError as exc:
                    msg = f"{name}[{i}]: {exc}"
                    raise ValueError(msg) from None
            msgspec.structs.force_setattr(self, name, texts)
        if self.location is not None:
            try:
                _zone(self.location)
            except ValueError as exc:
                msg = f"location: {exc}"
                raise ValueError(msg) from None

    def contains(self, at: datetime) -> bool:
        """Whether the moment ``at`` (an aware datetime) is in the interval, read on the clock of ``location``."""
        if at.tzinfo is None or at.utcoffset() is None:
            msg = "at: the moment needs a time zone (an aware datetime)"
            raise ValueError(msg)
        local = at.astimezone(_zone(self.location or ""))
        if self.times is not None:
            minute = local.hour * 60 + local.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None and not any(
            _day_in(local, *_day_range(str(text))) for text in self.days_of_month
        ):
            return False
        if self.months is not None and not _within(local.month, self.months, _month_range):
            return False
        if self.weekdays is not None and not _within(local.isoweekday() % 7, self.weekdays, _weekday_range):
            return False
        return self.years is None or _within(local.year, self.years, _year_range)


def _within(value: int, texts: Iterable[str | int], parse: Callable[[str], tuple[int, int]]) -> bool:
    for text in texts:
        begin, end = parse(str(text))
        if begin <= value <= end:
            return True
    return False


def _day_in(local: datetime, begin: int, end: int) -> bool:
    """Alertmanager's ContainsTime for one range of days: negative days count from the month's end; a range that
    starts after the month is empty; the ends clamp to the month."""
    days = calendar.monthrange(local.year, local.month)[1]
    if begin < 0:
        begin = days + begin + 1
    if end < 0:
        end = days + end + 1
    if begin > days:
        return False
    begin = max(-days, min(begin, days))
    end = max(-days, min(end, days))
    return begin <= local.day <= end


class NamedTimeInterval(_Strict, kw_only=True, frozen=True):
    """A top-level ``time_intervals`` (or ``mute_time_intervals``) entry: contains a moment when any of its
    ``time_intervals`` does."""

    name: str
    time_intervals: list[TimeInterval] = []

    def __post_init__(self) -> None:
        if not self.name:
            msg = "name: must not be empty"
            raise ValueError(msg)

    def contains(self, at: datetime) -> bool:
        return any(interval.contains(at) for interval in self.time_intervals)


def active_intervals(intervals: Iterable[NamedTimeInterval], names: Iterable[str], at: datetime) -> list[str]:
    """Which of ``names`` contain the moment ``at``, in the order given; ValueError for a name not defined."""
    by_name = {interval.name: interval for interval in intervals}
    found: list[str] = []
    for name in names:
        interval = by_name.get(name)
        if interval is None:
            msg = f"no time interval is named {_q(name)}"
            raise ValueError(msg)
        if interval.contains(at) and name not in found:
            found.append(name)
    return found
