"""Periodic schedules (interval, crontab, solar): pure date arithmetic, ``now`` passed in.

Each schedule answers one question, :meth:`BaseSchedule.next_run_after`: the first time
(aware, UTC) after a given instant at which it fires. Celery's ``is_due(last_run_at)``
and ``remaining_estimate(last_run_at)`` are built on it and take an optional ``now``.

Crontabs are evaluated on the wall clock of the schedule's time zone (``app.conf.timezone``,
UTC when unset): the next run is the first matching wall-clock minute after the last run's
wall-clock time. So on a spring-forward day a 02:30 entry (02:30 does not exist) runs once,
at 03:30 (the same distance past the gap's start); on a fall-back day a 01:30 entry runs
once, at the first 01:30.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from celeriac.beat.relative import relative_deadline
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.config.settings import Settings

__all__ = [
    "BaseSchedule",
    "ParseException",
    "crontab",
    "crontab_parser",
    "maybe_schedule",
    "ScheduleApp",
    "schedstate",
    "schedule",
    "resolve_timezone",
]

WEEKDAYS = dict(zip(("sun", "mon", "tue", "wed", "thu", "fri", "sat"), range(7), strict=True))
MONTHS = dict(
    zip(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        range(1, 13),
        strict=True,
    )
)
#: Days in each month, with the longest February (a leap year's).
DAYS_IN_MONTH = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}

Cronspec = int | str | Iterable[int]


class ScheduleApp(Protocol):
    """What a schedule needs of an app: its clock and its time-zone settings."""

    @property
    def conf(self) -> Settings:
        """The app's settings (``timezone``, ``enable_utc``)."""
        ...

    def now(self) -> datetime:
        """The current time, aware."""
        ...


class schedstate(NamedTuple):
    """What ``is_due`` returns: due now?, and seconds until the next check (Celery's)."""

    is_due: bool
    next: float


class ParseException(Exception):
    """A crontab field could not be parsed (Celery's ``celery.schedules.ParseException``)."""


def resolve_timezone(app: ScheduleApp | None = None, tz: str | tzinfo | None = None) -> tzinfo:
    """The time zone schedules are evaluated in: ``tz``, else ``app.conf.timezone``, else UTC.

    With ``enable_utc=False`` and no ``timezone``, the system's local zone (Celery's rule).
    """
    if tz is None and app is not None:
        tz = app.conf.timezone
        if tz is None and not app.conf.enable_utc:
            return datetime.now().astimezone().tzinfo or UTC
    if tz is None:
        return UTC
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError for bad keys
            raise ImproperlyConfigured(f"unknown time zone {tz!r} (timezone setting)") from exc
    return tz


def _aware(value: datetime, tz: tzinfo) -> datetime:
    """Naive datetimes are read in ``tz``; the result is aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


class BaseSchedule:
    """What every schedule has: an app (for ``now`` and the time zone) and Celery's methods."""

    def __init__(
        self, nowfun: Callable[[], datetime] | None = None, app: ScheduleApp | None = None
    ) -> None:
        self.nowfun = nowfun
        self.app = app

    @property
    def tz(self) -> tzinfo:
        """The time zone this schedule is evaluated in."""
        return resolve_timezone(self.app)

    def now(self) -> datetime:
        """The current time (``nowfun``, else the app's clock, else UTC now), aware."""
        if self.nowfun is not None:
            return _aware(self.nowfun(), self.tz)
        if self.app is not None:
            return _aware(self.app.now(), UTC)
        return datetime.now(UTC)

    def maybe_make_aware(self, dt: datetime, naive_as_utc: bool = False) -> datetime:
        """Read a naive datetime in this schedule's time zone (as UTC with
        ``naive_as_utc``); an aware one is kept."""
        return _aware(dt, UTC if naive_as_utc else self.tz)

    def to_local(self, dt: datetime) -> datetime:
        """``dt`` in this schedule's time zone (a naive one is read in that zone)."""
        return self.maybe_make_aware(dt).astimezone(self.tz)

    @property
    def utc_enabled(self) -> bool:
        """The app's ``enable_utc`` (True without an app)."""
        return bool(self.app.conf.enable_utc) if self.app is not None else True

    def next_run_after(self, last_run_at: datetime) -> datetime:
        """The first time (aware UTC) after ``last_run_at`` at which this schedule fires."""
        raise NotImplementedError

    def remaining_estimate(self, last_run_at: datetime, now: datetime | None = None) -> timedelta:
        """Time from ``now`` until the run that follows ``last_run_at`` (negative: overdue)."""
        now = self.maybe_make_aware(now or self.now())
        return self.next_run_after(self.maybe_make_aware(last_run_at)) - now

    def is_due(self, last_run_at: datetime, now: datetime | None = None) -> schedstate:
        """``(is_due, seconds until the next check)`` as Celery defines it."""
        now = self.maybe_make_aware(now or self.now())
        remaining = self.remaining_estimate(last_run_at, now).total_seconds()
        if remaining > 0:
            return schedstate(False, remaining)
        return schedstate(True, max(self.remaining_estimate(now, now).total_seconds(), 0.0))


class schedule(BaseSchedule):
    """Every ``run_every`` (seconds or a timedelta); ``relative=True`` rounds the start down
    to the interval's resolution (day, hour, minute or second), as Celery does."""

    def __init__(
        self,
        run_every: float | timedelta | None = None,
        relative: bool = False,
        nowfun: Callable[[], datetime] | None = None,
        app: ScheduleApp | None = None,
    ) -> None:
        if run_every is None:
            raise ValueError("schedule() needs run_every (seconds or a timedelta)")
        if not isinstance(run_every, timedelta):
            if isinstance(run_every, bool) or not isinstance(run_every, int | float):
                raise TypeError(f"run_every must be seconds or a timedelta, not {run_every!r}")
            run_every = timedelta(seconds=run_every)
        if run_every.total_seconds() <= 0:
            raise ValueError(f"run_every must be positive, got {run_every}")
        self.run_every = run_every
        self.relative = relative
        super().__init__(nowfun, app)

    @property
    def seconds(self) -> float:
        """The interval in seconds."""
        return self.run_every.total_seconds()

    @property
    def human_seconds(self) -> str:
        """The interval as text: ``10.00 seconds``, ``2.00 hours``."""
        from celeriac.utils.time import humanize_seconds

        return humanize_seconds(self.seconds)

    def next_run_after(self, last_run_at: datetime) -> datetime:
        """``last_run_at + run_every`` in elapsed time; with ``relative``, the next
        rounded wall-clock deadline of the time zone (see :mod:`celeriac.beat.relative`)."""
        start = self.maybe_make_aware(last_run_at)
        if self.relative:
            return relative_deadline(start, self.run_every, self.tz)
        return start.astimezone(UTC) + self.run_every

    def __repr__(self) -> str:
        return f"<freq: {self.seconds:g} seconds>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, schedule):
            return self.run_every == other.run_every and self.relative == other.relative
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.run_every)

    def __reduce__(self) -> tuple[object, ...]:
        return self.__class__, (self.run_every, self.relative)


class crontab_parser:
    """Expands one crontab field (``'*/15'``, ``'8-17'``, ``'mon-fri'``, ``'1,3-5/2'``) to a set.

    Args:
        max_: how many values the field has (60 minutes, 24 hours, 7 weekdays, 31 days, 12
            months).
        min_: the first value (0, or 1 for day of month and month of year).
    """

    ParseException = ParseException

    _RANGE_STEP = re.compile(r"^(\w+?)-(\w+)/(\w+)?$")
    _RANGE = re.compile(r"^(\w+?)-(\w+)$")
    _STAR_STEP = re.compile(r"^\*/(\w+)?$")

    def __init__(self, max_: int = 60, min_: int = 0) -> None:
        self.max_ = max_
        self.min_ = min_

    def parse(self, spec: str) -> set[int]:
        """The values ``spec`` stands for."""
        values: set[int] = set()
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                raise ParseException(f"empty part in crontab field {spec!r}")
            values.update(self._part(part))
        return values

    def _part(self, part: str) -> list[int]:
        if part == "*":
            return self._all()
        match = self._STAR_STEP.match(part)
        if match:
            return self._all()[:: self._step(match.group(1), part)]
        match = self._RANGE_STEP.match(part)
        if match:
            return self._range(match.group(1), match.group(2))[:: self._step(match.group(3), part)]
        match = self._RANGE.match(part)
        if match:
            return self._range(match.group(1), match.group(2))
        if "/" in part or "*" in part:
            raise ParseException(f"invalid crontab field part {part!r}")
        return [self._number(part)]

    def _all(self) -> list[int]:
        return list(range(self.min_, self.max_ + self.min_))

    @staticmethod
    def _step(text: str | None, part: str) -> int:
        if not text:
            raise ParseException(f"empty step in {part!r}")
        try:
            step = int(text)
        except ValueError:
            raise ParseException(f"step {text!r} in {part!r} is not a number") from None
        if step < 1:
            raise ParseException(f"step in {part!r} must be at least 1")
        return step

    def _range(self, first: str, last: str) -> list[int]:
        start, end = self._number(first), self._number(last)
        if end < start:  # wraps around, as in Celery: 'fri-mon'
            return list(range(start, self.min_ + self.max_)) + list(range(self.min_, end + 1))
        return list(range(start, end + 1))

    def _number(self, text: str) -> int:
        if text.startswith("-"):
            raise ParseException(f"negative numbers are not supported: {text!r}")
        try:
            value = int(text)
        except ValueError:
            key = text[:3].lower()
            if key in MONTHS:
                value = MONTHS[key]
            elif key in WEEKDAYS:
                value = WEEKDAYS[key]
            else:
                raise ValueError(f"Invalid weekday literal {text!r}.") from None
        highest = self.min_ + self.max_ - 1
        if value > highest:
            raise ValueError(f"Invalid end range: {value} > {highest}.")
        if value < self.min_:
            raise ValueError(f"Invalid beginning range: {value} < {self.min_}.")
        return value


def _expand(spec: Cronspec, max_: int, min_: int = 0) -> frozenset[int]:
    """The values of one field; equal specs share one frozenset (many entries, little memory)."""
    if isinstance(spec, int | str):
        return _expand_cached(spec, max_, min_)
    return _expand_uncached(spec, max_, min_)


@functools.lru_cache(maxsize=4096)
def _expand_cached(spec: int | str, max_: int, min_: int) -> frozenset[int]:
    return _expand_uncached(spec, max_, min_)


@functools.lru_cache(maxsize=4096)
def _sorted(values: frozenset[int]) -> tuple[int, ...]:
    return tuple(sorted(values))


def _expand_uncached(spec: Cronspec, max_: int, min_: int) -> frozenset[int]:
    if isinstance(spec, bool):
        raise TypeError(f"crontab field must be an int, a str or an iterable, not {spec!r}")
    if isinstance(spec, int):
        values = {spec}
    elif isinstance(spec, str):
        values = crontab_parser(max_, min_).parse(spec)
    elif isinstance(spec, Iterable):
        values = {int(item) for item in spec}
    else:
        raise TypeError(
            "Argument cronspec needs to be of any of the following types: "
            f"int, str, or an iterable type. {type(spec)!r} was given."
        )
    for value in values:
        if value < min_ or value >= max_ + min_:
            raise ValueError(
                f"Invalid crontab pattern.  Valid range is {min_}-{max_ - 1 + min_}. "
                f"'{value}' was found."
            )
    return frozenset(values)


class crontab(BaseSchedule):
    """Fires on matching wall-clock minutes, like cron (Celery's ``crontab``).

    A time matches when its month, day of month, day of week (0 = Sunday), hour and minute
    are all in their fields (day of month AND day of week, as in Celery, not cron's OR).
    """

    def __init__(
        self,
        minute: Cronspec = "*",
        hour: Cronspec = "*",
        day_of_week: Cronspec = "*",
        day_of_month: Cronspec = "*",
        month_of_year: Cronspec = "*",
        *,
        nowfun: Callable[[], datetime] | None = None,
        app: ScheduleApp | None = None,
        tz: str | tzinfo | None = None,
    ) -> None:
        self._orig = (minute, hour, day_of_week, day_of_month, month_of_year)
        self.minute = _expand(minute, 60)
        self.hour = _expand(hour, 24)
        self.day_of_week = _expand(day_of_week, 7)
        self.day_of_month = _expand(day_of_month, 31, 1)
        self.month_of_year = _expand(month_of_year, 12, 1)
        if not any(
            day <= DAYS_IN_MONTH[month] for month in self.month_of_year for day in self.day_of_month
        ):
            raise ValueError(
                f"Invalid crontab: day_of_month {day_of_month!r} never occurs in "
                f"month_of_year {month_of_year!r}."
            )
        self._minutes = _sorted(self.minute)
        self._hours = _sorted(self.hour)
        self._tz = resolve_timezone(None, tz) if tz is not None else None
        super().__init__(nowfun, app)

    @classmethod
    def from_string(cls, crontab: str) -> crontab:
        """From ``'m h dom mon dow'`` (crontab(5) order)."""
        fields = crontab.split()
        if len(fields) != 5:
            raise ValueError(f"a crontab string has 5 fields, got {crontab!r}")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    @property
    def tz(self) -> tzinfo:
        """The zone given as ``tz=``, else the app's."""
        return self._tz if self._tz is not None else resolve_timezone(self.app)

    def _day_matches(self, day: date) -> bool:
        return (
            day.month in self.month_of_year
            and day.day in self.day_of_month
            and day.isoweekday() % 7 in self.day_of_week
        )

    def next_wall_time(self, after: datetime) -> datetime:
        """The first matching naive wall-clock minute strictly after naive ``after``."""
        first = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = first.date()
        for _ in range(366 * 11):
            if self._day_matches(day):
                start = first if day == first.date() else datetime.combine(day, time())
                found = self._time_on_day(start)
                if found is not None:
                    return found
            day += timedelta(days=1)
        raise ValueError(f"{self!r} never fires")  # pragma: no cover - prevented in __init__

    def _time_on_day(self, start: datetime) -> datetime | None:
        index = bisect.bisect_left(self._hours, start.hour)
        for hour in self._hours[index:]:
            min_minute = start.minute if hour == start.hour else 0
            position = bisect.bisect_left(self._minutes, min_minute)
            if position < len(self._minutes):
                return start.replace(hour=hour, minute=self._minutes[position])
        return None

    def next_run_after(self, last_run_at: datetime) -> datetime:
        """The first matching wall-clock minute after ``last_run_at``'s wall-clock time."""
        tz = self.tz
        local = self.maybe_make_aware(last_run_at).astimezone(tz).replace(tzinfo=None)
        wall = self.next_wall_time(local)
        # fold=0: an ambiguous time (fall back) is its first occurrence; a time in a
        # spring-forward gap resolves with the offset before the gap (02:30 -> 03:30).
        return wall.replace(tzinfo=tz).astimezone(UTC)

    def remaining_delta(
        self, last_run_at: datetime, tz: str | tzinfo | None = None, ffwd: object = None
    ) -> tuple[datetime, timedelta, datetime]:
        """Celery's ``(start, delta, now)``: ``last_run_at`` and now in the schedule's zone
        (``tz`` to use another), and the wall-clock step from ``start`` to the next run
        (``start + delta`` is it). ``ffwd`` is accepted for Celery's signature: the step is
        a plain timedelta here."""
        zone = resolve_timezone(None, tz) if tz is not None else self.tz
        start = self.maybe_make_aware(last_run_at).astimezone(zone)
        now = self.maybe_make_aware(self.now()).astimezone(zone)
        wall = start.replace(tzinfo=None)
        return start, self.next_wall_time(wall) - wall, now

    def is_due(self, last_run_at: datetime, now: datetime | None = None) -> schedstate:
        """Celery's ``is_due``, with ``beat_cron_starting_deadline`` when an app is set."""
        now = self.maybe_make_aware(now or self.now())
        state = super().is_due(last_run_at, now)
        deadline = self.app.conf.beat_cron_starting_deadline if self.app is not None else None
        if state.is_due and deadline is not None:
            # The most recent missed run must be within the deadline to still count.
            since = now - timedelta(seconds=deadline, microseconds=1)
            if self.next_run_after(since) > now:
                return schedstate(False, state.next)
        return state

    def __repr__(self) -> str:
        minute, hour, dow, dom, moy = (_field_text(value) for value in self._orig)
        return f"<crontab: {minute} {hour} {dom} {moy} {dow} (m/h/dM/MY/d)>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, crontab):
            return (
                self.minute == other.minute
                and self.hour == other.hour
                and self.day_of_week == other.day_of_week
                and self.day_of_month == other.day_of_month
                and self.month_of_year == other.month_of_year
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(_field_text(value) for value in self._orig))

    def __reduce__(self) -> tuple[object, ...]:
        return self.__class__, self._orig


def _field_text(value: Cronspec) -> str:
    if isinstance(value, int | str):
        return str(value)
    return ",".join(str(item) for item in sorted(value))


def maybe_schedule(
    value: float | timedelta | BaseSchedule | None,
    relative: bool = False,
    app: ScheduleApp | None = None,
) -> BaseSchedule | None:
    """A schedule from seconds, a timedelta or a schedule (whose ``app`` is set)."""
    if value is None:
        return None
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        return schedule(value, relative, app=app)
    if isinstance(value, BaseSchedule):
        if app is not None:
            value.app = app
        return value
    raise TypeError(
        f"a schedule must be seconds, a timedelta, schedule(), crontab() or solar(), not {value!r}"
    )
