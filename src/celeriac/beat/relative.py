"""When an interval schedule with ``relative=True`` is next due, on a zone's wall clock.

``schedule(timedelta(days=1), relative=True)`` runs at local midnights, an hourly one on
the hour: the deadline is a rounded wall-clock time (to the day, hour, minute or second,
the interval's resolution), not an elapsed time. Around daylight saving changes a rounded
time may not exist (a gap: the deadline moves forward to where the clock resumes) or
exist twice (a repeated hour: both instants are candidates). The rule, as Celery 5.7's:

- an interval of a day or more adds calendar days to the last run's wall time, rounds
  that to the day, and takes the first occurrence after the last run;
- a shorter interval adds elapsed time, rounds the wall time of that instant, and takes
  the latest occurrence not after it; when rounding falls at or before the last run (a
  partial-hour clock change), the next hour's (or minute's) boundary and the
  calendar-added one are candidates too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from celeriac.utils.time import delta_resolution

__all__ = ["relative_deadline"]

_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)


def relative_deadline(last_run_at: datetime, period: timedelta, tz: tzinfo) -> datetime:
    """The first rounded deadline (aware UTC) of ``period`` after ``last_run_at`` in ``tz``."""
    start_utc = last_run_at.astimezone(UTC)
    start = last_run_at.astimezone(tz)
    if period >= _DAY:
        wall_end = start + period  # same tzinfo: wall-clock (calendar) arithmetic
        future = [when for when in _occurrences(wall_end, period) if when > start_utc]
        return min(future, default=wall_end.astimezone(UTC))
    end_utc = start_utc + period
    candidates = _occurrences(end_utc.astimezone(tz), period)
    before_end = [when for when in candidates if when <= end_utc]
    rounded = max(before_end) if before_end else min(candidates)
    if period >= _MINUTE and rounded <= start_utc:
        unit = _HOUR if period >= _HOUR else _MINUTE
        candidates += _occurrences(end_utc.astimezone(tz) + unit, period)
        candidates += _occurrences(start + period, period)
        future = [when for when in candidates if when > start_utc]
        before_end = [when for when in future if when <= end_utc]
        rounded = max(before_end) if before_end else min(future, default=end_utc)
    return rounded


def _round(wall: datetime, period: timedelta) -> datetime:
    """``wall`` cut to the period's resolution (day, hour, minute, else second)."""
    return delta_resolution(wall, period).replace(microsecond=0)


def _occurrences(wall: datetime, period: timedelta) -> list[datetime]:
    """The instants (UTC) of ``wall`` rounded: both readings of a repeated time, and the
    time the clock resumes at for one that falls in a gap."""
    rounded = _round(wall, period)
    found = []
    for fold in (0, 1):
        candidate = rounded.replace(fold=fold)
        if not _exists(candidate):
            candidate = _past_gap(candidate)
        found.append(candidate.astimezone(UTC))
    return found


def _exists(wall: datetime) -> bool:
    """Whether the aware local time ``wall`` is shown by its zone's clock at some instant."""
    back = wall.astimezone(UTC).astimezone(wall.tzinfo)
    return back.replace(tzinfo=None, fold=0) == wall.replace(tzinfo=None, fold=0)


def _past_gap(wall: datetime) -> datetime:
    """A time inside a gap moved forward by the gap's length (where the clock resumes)."""
    after = (wall + _DAY).utcoffset()
    before = (wall - _DAY).utcoffset()
    if after is None or before is None or after <= before:
        return wall
    return wall + (after - before)
