"""Interval schedules across daylight saving changes: elapsed intervals count real time,
``relative=True`` ones run on the zone's rounded wall-clock boundaries (Celery 5.7's rule),
with both ``zoneinfo`` and ``dateutil`` zones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from celeriac.schedules import schedule

dateutil_tz = pytest.importorskip("dateutil.tz")

ZONES: list[Callable[[str], tzinfo | None]] = [ZoneInfo, dateutil_tz.gettz]

# (zone, interval, relative, last run, first due, second due), local wall times
CASES = {
    "daily-fall-back": (
        "America/New_York", timedelta(days=1), True,
        datetime(2026, 11, 1, 0, 30), datetime(2026, 11, 2), datetime(2026, 11, 3),
    ),
    "daily-spring-forward": (
        "America/New_York", timedelta(days=1), True,
        datetime(2026, 3, 7, 23, 30), datetime(2026, 3, 8), datetime(2026, 3, 9),
    ),
    "hourly-across-spring-forward": (
        "America/New_York", timedelta(hours=1), True,
        datetime(2026, 3, 8, 1, 30), datetime(2026, 3, 8, 3), datetime(2026, 3, 8, 4),
    ),
    "half-hour-gap": (
        "Australia/Lord_Howe", timedelta(hours=1), True,
        datetime(2026, 10, 4, 1, 15), datetime(2026, 10, 4, 2, 30), datetime(2026, 10, 4, 3),
    ),
    "midnight-gap": (
        "Africa/Cairo", timedelta(days=1), True,
        datetime(2026, 4, 23, 23, 30), datetime(2026, 4, 24, 1), datetime(2026, 4, 25),
    ),
    "repeated-midnight": (
        "America/Goose_Bay", timedelta(days=1), True,
        datetime(2000, 10, 28, 23, 30, fold=1), datetime(2000, 10, 29, fold=1),
        datetime(2000, 10, 30),
    ),
    "two-hours-in-repeated-hour": (
        "Pacific/Chatham", timedelta(hours=2), True,
        datetime(2026, 4, 5, 2, 45), datetime(2026, 4, 5, 3, fold=1), datetime(2026, 4, 5, 5),
    ),
    "elapsed-day-fall-back": (
        "America/New_York", timedelta(days=1), False,
        datetime(2026, 11, 1, 0, 30), datetime(2026, 11, 1, 23, 30),
        datetime(2026, 11, 2, 23, 30),
    ),
    "elapsed-day-spring-forward": (
        "America/New_York", timedelta(days=1), False,
        datetime(2026, 3, 7, 23, 30), datetime(2026, 3, 9, 0, 30), datetime(2026, 3, 10, 0, 30),
    ),
}  # fmt: skip


@pytest.mark.parametrize("make_zone", ZONES, ids=["zoneinfo", "dateutil"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_interval_runs_once_at_each_deadline(
    case: tuple[str, timedelta, bool, datetime, datetime, datetime],
    make_zone: Callable[[str], tzinfo | None],
) -> None:
    name, interval, relative, last, due, after = case
    zone = make_zone(name)
    assert zone is not None
    app = SimpleNamespace(conf=SimpleNamespace(timezone=zone, enable_utc=True))
    every = schedule(interval, relative=relative, app=app)  # type: ignore[arg-type]
    first = every.next_run_after(last.replace(tzinfo=zone))
    assert first == due.replace(tzinfo=zone).astimezone(UTC)
    second = every.next_run_after(first.astimezone(zone))
    assert second == after.replace(tzinfo=zone).astimezone(UTC)
    assert every.next_run_after(first) == second  # the last run read in UTC: the same
