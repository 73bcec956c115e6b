"""Date and time helpers under Celery's names (``celery.utils.time``).

Aware datetimes throughout: :func:`maybe_make_aware` and :func:`to_utc` turn naive values
into aware ones, :class:`ffwd` moves a datetime forward to the next matching fields,
:func:`humanize_seconds` and :func:`rate` read and write the strings Celery prints and
parses.
"""

from __future__ import annotations

import random
import time as _time
from calendar import monthrange
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "LocalTimezone",
    "add_seconds_to_datetime",
    "adjust_timestamp",
    "delta_resolution",
    "ffwd",
    "get_exponential_backoff_interval",
    "humanize_seconds",
    "is_naive",
    "localize",
    "make_aware",
    "maybe_iso8601",
    "maybe_make_aware",
    "maybe_timedelta",
    "rate",
    "remaining",
    "subtract_datetimes",
    "timezone",
    "to_utc",
    "utcoffset",
    "weekday",
]

#: Weekday names (full and three-letter) to Celery's numbers: Sunday is 0.
WEEKDAYS = {
    name: index
    for index, full in enumerate(
        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    )
    for name in (full, full[:3])
}
_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_TIME_UNITS = (
    ("day", 86400.0, "days"),
    ("hour", 3600.0, "hours"),
    ("minute", 60.0, "minutes"),
    ("second", 1.0, "seconds"),
)


class LocalTimezone(tzinfo):
    """The machine's local time zone, from the ``time`` module (DST included)."""

    def __init__(self) -> None:
        self.STDOFFSET = timedelta(seconds=-_time.timezone)
        self.DSTOFFSET = timedelta(seconds=-_time.altzone) if _time.daylight else self.STDOFFSET
        self.DSTDIFF = self.DSTOFFSET - self.STDOFFSET
        super().__init__()

    def __repr__(self) -> str:
        return f"<LocalTimezone: UTC{int(self.DSTOFFSET.total_seconds() / 3600):+03d}>"

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.DSTOFFSET if self._isdst(dt) else self.STDOFFSET

    def dst(self, dt: datetime | None) -> timedelta:
        return self.DSTDIFF if self._isdst(dt) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return _time.tzname[self._isdst(dt)]

    def _isdst(self, dt: datetime | None) -> bool:
        if dt is None:
            return False
        stamp = _time.mktime((dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second,
                              dt.weekday(), 0, 0))  # fmt: skip
        return _time.localtime(stamp).tm_isdst > 0


class _Zone:
    """Celery's ``timezone`` helper object: conversions and zone lookup."""

    def tz_or_local(self, tz: tzinfo | str | None = None) -> tzinfo:
        """``tz`` as a tzinfo, or the local zone when ``None``."""
        return self.local if tz is None else self.get_timezone(tz)

    def to_local(
        self, dt: datetime, local: tzinfo | None = None, orig: tzinfo | None = None
    ) -> datetime:
        """``dt`` (naive read in ``orig``, UTC by default) in the zone ``local``."""
        if is_naive(dt):
            dt = make_aware(dt, orig or self.utc)
        return localize(dt, self.tz_or_local(local))

    def to_system(self, dt: datetime) -> datetime:
        """``dt`` in the machine's zone."""
        return dt.astimezone(tz=None)

    def to_local_fallback(self, dt: datetime) -> datetime:
        """``dt`` made aware in the local zone when naive, else unchanged."""
        return make_aware(dt, self.local) if is_naive(dt) else dt

    def get_timezone(self, zone: tzinfo | str) -> tzinfo:
        """A tzinfo for a zone name (``"Europe/Kyiv"``) or the tzinfo itself."""
        return ZoneInfo(zone) if isinstance(zone, str) else zone

    @property
    def local(self) -> tzinfo:
        """The machine's local zone."""
        return LocalTimezone()

    @property
    def utc(self) -> tzinfo:
        """UTC."""
        return UTC


#: Celery's ``timezone`` object.
timezone = _Zone()


def maybe_timedelta(delta: int | float | timedelta) -> timedelta:
    """Seconds as a timedelta; a timedelta as it is."""
    return timedelta(seconds=delta) if isinstance(delta, int | float) else delta


def delta_resolution(dt: datetime, delta: timedelta) -> datetime:
    """``dt`` rounded down to the resolution of ``delta`` (days, hours, minutes or seconds)."""
    seconds = delta.total_seconds()
    if seconds >= 86400:
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if seconds >= 3600:
        return dt.replace(minute=0, second=0, microsecond=0)
    if seconds >= 60:
        return dt.replace(second=0, microsecond=0)
    return dt


def remaining(
    start: datetime,
    ends_in: timedelta | ffwd,
    now: datetime | None = None,
    relative: bool = False,
) -> timedelta:
    """Time left until ``start + ends_in`` (with ``relative``, rounded to its resolution)."""
    now = now or datetime.now(UTC)
    if str(start.tzinfo) == str(now.tzinfo) and now.utcoffset() != start.utcoffset():
        start = start.replace(tzinfo=now.tzinfo)  # same zone on both sides of a DST change
    end_date = start + ends_in
    if relative and isinstance(ends_in, timedelta):
        end_date = delta_resolution(end_date, ends_in).replace(microsecond=0)
    if end_date.tzinfo is not None and now.tzinfo is not None:
        end_date = end_date.astimezone(now.tzinfo)
    return end_date - now


def rate(r: str | float | int | None) -> float:
    """A rate string (``"10/s"``, ``"100/m"``, ``"1000/h"``) as tasks per second; 0 for none."""
    if not r:
        return 0.0
    if isinstance(r, int | float):
        return float(r)
    ops, _, unit = r.partition("/")
    return float(ops) / _RATE_UNITS[unit.strip()[:1].lower() or "s"]


def weekday(name: str) -> int:
    """A weekday name (``"mon"``, ``"Friday"``) as a number, Sunday being 0.

    Raises:
        KeyError: not a weekday name.
    """
    key = name.lower()
    try:
        return WEEKDAYS[key]
    except KeyError:
        raise KeyError(name) from None


def humanize_seconds(
    secs: float, prefix: str = "", sep: str = "", now: str = "now", microseconds: bool = False
) -> str:
    """``"in 2.00 hours"``-style text for a number of seconds (``now`` for zero)."""
    secs = float(format(float(secs), ".2f"))
    for unit, size, plural in _TIME_UNITS:
        if secs >= size:
            amount = secs / size
            word = unit if amount == 1 else plural
            return f"{prefix}{sep}{amount:.2f} {word}"
    if microseconds and secs > 0.0:
        return f"{prefix}{sep}{secs:.2f} seconds"
    return now


def maybe_iso8601(dt: datetime | str | None) -> datetime | None:
    """Parse an ISO 8601 string; pass datetimes and ``None`` through."""
    if dt is None or isinstance(dt, datetime):
        return dt
    return datetime.fromisoformat(dt)


def is_naive(dt: datetime) -> bool:
    """Whether ``dt`` has no usable time zone."""
    return dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None


def make_aware(dt: datetime, tz: tzinfo) -> datetime:
    """A naive ``dt`` read as wall time in ``tz``."""
    return dt.replace(tzinfo=tz)


def localize(dt: datetime, tz: tzinfo) -> datetime:
    """``dt`` converted to ``tz`` (naive values are read in ``tz``)."""
    return make_aware(dt, tz) if is_naive(dt) else dt.astimezone(tz)


def to_utc(dt: datetime) -> datetime:
    """``dt`` in UTC (naive values are read as UTC)."""
    return make_aware(dt, UTC) if is_naive(dt) else dt.astimezone(UTC)


def maybe_make_aware(dt: datetime, tz: tzinfo | None = None, naive_as_utc: bool = True) -> datetime:
    """``dt`` made aware: naive values read as UTC (or in ``tz``), then converted to ``tz``."""
    if is_naive(dt):
        dt = to_utc(dt) if naive_as_utc or tz is None else make_aware(dt, tz)
    return localize(dt, tz or UTC)


def add_seconds_to_datetime(dt: datetime, seconds: float) -> datetime:
    """``dt`` plus ``seconds`` of elapsed time (computed in UTC, so DST does not skew it)."""
    return (to_utc(dt) + timedelta(seconds=seconds)).astimezone(dt.tzinfo or UTC)


def subtract_datetimes(end: datetime, start: datetime) -> timedelta:
    """The elapsed time from ``start`` to ``end``, across DST changes."""
    return to_utc(end) - to_utc(start)


class ffwd:
    """Fast-forward: ``dt + ffwd(hour=3, weekday=0)`` is the next Sunday 03:00 from ``dt``.

    Fields that are given replace ``dt``'s (the day is clamped to the month's length);
    ``weeks`` are added; ``weekday`` moves forward to that day (Monday is 0 here, as in
    :meth:`datetime.weekday`). Other keyword arguments are kept in ``kwargs``, unused.
    """

    def __init__(
        self,
        year: int | None = None,
        month: int | None = None,
        weeks: int = 0,
        weekday: int | None = None,
        day: int | None = None,
        hour: int | None = None,
        minute: int | None = None,
        second: int | None = None,
        microsecond: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.year = year
        self.month = month
        self.weeks = weeks
        self.weekday = weekday
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
        self.days = weeks * 7
        self._has_time = self.hour is not None or self.minute is not None
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"<ffwd: {self._fields()}>"

    def __radd__(self, other: datetime) -> datetime:
        if not isinstance(other, datetime):
            return NotImplemented
        year = self.year or other.year
        month = self.month or other.month
        day = min(monthrange(year, month)[1], self.day or other.day)
        ret = other.replace(**self._fields(year=year, month=month, day=day))
        if self.weekday is not None:
            ret += timedelta(days=(self.weekday - ret.weekday()) % 7)
        return ret + timedelta(days=self.days)

    def _fields(self, **extra: Any) -> dict[str, Any]:
        names = ("year", "month", "day", "hour", "minute", "second", "microsecond")
        found = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        return {**found, **extra}


def utcoffset(
    time: ModuleType = _time, localtime: Callable[..., _time.struct_time] = _time.localtime
) -> float:
    """This machine's offset from UTC in hours (Celery's sign: positive west of Greenwich)."""
    if localtime().tm_isdst:
        return float(time.altzone // 3600)
    return float(time.timezone // 3600)


def adjust_timestamp(ts: float, offset: float, here: Callable[..., float] = utcoffset) -> float:
    """A timestamp taken ``offset`` hours from UTC, moved to this machine's offset."""
    return ts - (offset - here()) * 3600


def get_exponential_backoff_interval(
    factor: float, retries: int, maximum: float, full_jitter: bool = False
) -> int:
    """``factor * 2 ** retries`` capped at ``maximum`` (a random value up to it with jitter)."""
    countdown = min(maximum, factor * (2**retries))
    if full_jitter:
        countdown = random.randrange(int(countdown) + 1)
    return max(0, int(countdown))
