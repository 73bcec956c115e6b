"""crontab: Celery's documented examples with their next runs, parsing errors, and DST days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from celeriac.schedules import ParseException, crontab, crontab_parser, schedule

START = datetime(2024, 5, 15, 10, 7, tzinfo=UTC)  # a Wednesday

#: Celery's documented examples (docs: periodic tasks, crontab schedules) and the next run
#: after Wednesday 2024-05-15 10:07 UTC.
EXAMPLES = [
    (crontab(), datetime(2024, 5, 15, 10, 8)),
    (crontab(minute=0, hour="*/3"), datetime(2024, 5, 15, 12, 0)),
    (crontab(minute=0, hour="0,3,6,9,12,15,18,21"), datetime(2024, 5, 15, 12, 0)),
    (crontab(minute="*/15"), datetime(2024, 5, 15, 10, 15)),
    (crontab(day_of_week="sunday"), datetime(2024, 5, 19, 0, 0)),
    (crontab(minute="*", hour="*", day_of_week="sun"), datetime(2024, 5, 19, 0, 0)),
    (
        crontab(minute="*/10", hour="3,17,22", day_of_week="thu,fri"),
        datetime(2024, 5, 16, 3, 0),
    ),
    (crontab(minute=0, hour="*/2,*/3"), datetime(2024, 5, 15, 12, 0)),
    (crontab(minute=0, hour="*/5"), datetime(2024, 5, 15, 15, 0)),
    (crontab(minute=0, hour="*/3,8-17"), datetime(2024, 5, 15, 11, 0)),
    (crontab(0, 0, day_of_month="2"), datetime(2024, 6, 2, 0, 0)),
    (crontab(0, 0, day_of_month="2-30/2"), datetime(2024, 5, 16, 0, 0)),
    (crontab(0, 0, day_of_month="1-7,15-21"), datetime(2024, 5, 16, 0, 0)),
    (crontab(0, 0, day_of_month="11", month_of_year="5"), datetime(2025, 5, 11, 0, 0)),
    (crontab(0, 0, month_of_year="*/3"), datetime(2024, 7, 1, 0, 0)),
    (crontab(minute="0-59/10", hour="8-17", day_of_week="mon-fri"), datetime(2024, 5, 15, 10, 10)),
    (crontab(minute=30, hour=18, day_of_week="sat,sun"), datetime(2024, 5, 18, 18, 30)),
    (crontab(minute=[5, 50], hour=[9, 10]), datetime(2024, 5, 15, 10, 50)),
]


@pytest.mark.parametrize(("cron", "expected"), EXAMPLES, ids=[repr(c) for c, _ in EXAMPLES])
def test_next_run_of_celery_examples(cron: crontab, expected: datetime) -> None:
    assert cron.next_run_after(START) == expected.replace(tzinfo=UTC)
    # and the run after that is strictly later and matches too
    following = cron.next_run_after(cron.next_run_after(START))
    assert following > expected.replace(tzinfo=UTC)


@pytest.mark.parametrize(("cron", "expected"), EXAMPLES, ids=[repr(c) for c, _ in EXAMPLES])
def test_matches_real_celery(cron: crontab, expected: datetime) -> None:
    """Celery's own crontab gives the same next runs from several starting points."""
    celery_schedules = pytest.importorskip("celery.schedules")
    args = cron._orig
    for start in (
        START,
        START + timedelta(days=3, hours=7, minutes=51),
        datetime(2024, 12, 31, 23, 59, tzinfo=UTC),
    ):
        theirs = celery_schedules.crontab(*args, nowfun=lambda start=start: start)
        celery_next = start + theirs.remaining_estimate(start)
        assert cron.next_run_after(start) == celery_next, (args, start)


def test_is_due_and_remaining_estimate_like_celery() -> None:
    cron = crontab(minute="*/15")
    last = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)
    due, wait = cron.is_due(last, now=datetime(2024, 5, 15, 10, 7, tzinfo=UTC))
    assert (due, wait) == (False, 8 * 60)
    due, wait = cron.is_due(last, now=datetime(2024, 5, 15, 10, 15, 30, tzinfo=UTC))
    assert due and wait == 14 * 60 + 30
    assert cron.remaining_estimate(last, now=last) == timedelta(minutes=15)


def test_interval_schedule() -> None:
    every = schedule(timedelta(seconds=30))
    last = datetime(2024, 5, 15, 10, 0, 10, tzinfo=UTC)
    assert every.next_run_after(last) == last + timedelta(seconds=30)
    assert every.is_due(last, now=last + timedelta(seconds=31)) == (True, 30.0)
    hourly = schedule(3600, relative=True)
    assert hourly.next_run_after(datetime(2024, 5, 15, 10, 42, tzinfo=UTC)) == datetime(
        2024, 5, 15, 11, 0, tzinfo=UTC
    )


def test_parser() -> None:
    assert crontab_parser(60).parse("*/15") == {0, 15, 30, 45}
    assert crontab_parser(24).parse("*/4") == {0, 4, 8, 12, 16, 20}
    assert crontab_parser(31, 1).parse("*/3") == {1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31}
    assert crontab_parser(12, 1).parse("2-12/2") == {2, 4, 6, 8, 10, 12}
    assert crontab_parser(7).parse("mon-fri") == {1, 2, 3, 4, 5}
    assert crontab_parser(7).parse("fri-mon") == {5, 6, 0, 1}
    assert crontab(month_of_year="jan,jul").month_of_year == {1, 7}


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"minute": "*/"}, ParseException, "empty step"),
        ({"minute": "1,,2"}, ParseException, "empty part"),
        ({"minute": "60"}, ValueError, "Invalid end range: 60 > 59"),
        ({"minute": 60}, ValueError, "Valid range is 0-59"),
        ({"hour": "-1"}, ParseException, "negative"),
        ({"day_of_week": "funday"}, ValueError, "Invalid weekday literal"),
        ({"day_of_month": "0"}, ValueError, "Invalid beginning range: 0 < 1"),
        ({"day_of_month": "31", "month_of_year": "2"}, ValueError, "never occurs"),
        ({"minute": 1.5}, TypeError, "cronspec"),
        ({"minute": "*/0"}, ParseException, "at least 1"),
    ],
)
def test_bad_input_is_named(kwargs: dict[str, object], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        crontab(**kwargs)  # type: ignore[arg-type]


def test_repr_and_from_string() -> None:
    cron = crontab.from_string("*/15 8-17 * * mon-fri")
    assert cron == crontab(minute="*/15", hour="8-17", day_of_week="mon-fri")
    assert repr(cron) == "<crontab: */15 8-17 * * mon-fri (m/h/dM/MY/d)>"


# -- DST: wall-clock evaluation in the app's time zone -----------------------------------


def _runs(cron: crontab, start: datetime, end: datetime) -> list[datetime]:
    runs, at = [], start
    while True:
        at = cron.next_run_after(at)
        if at >= end:
            return runs
        runs.append(at)


@pytest.mark.parametrize(
    ("zone", "day", "hour", "expected_utc"),
    [
        # spring forward: 03:00 -> 04:00 in Kyiv, 02:00 -> 03:00 in New York. The 03:30 /
        # 02:30 that does not exist runs once, an hour later on the wall clock.
        ("Europe/Kyiv", datetime(2024, 3, 31), 3, datetime(2024, 3, 31, 1, 30)),
        ("America/New_York", datetime(2024, 3, 10), 2, datetime(2024, 3, 10, 7, 30)),
        # fall back: 04:00 -> 03:00 in Kyiv, 02:00 -> 01:00 in New York. The 03:30 / 01:30
        # that happens twice runs once, at its first occurrence.
        ("Europe/Kyiv", datetime(2024, 10, 27), 3, datetime(2024, 10, 27, 0, 30)),
        ("America/New_York", datetime(2024, 11, 3), 1, datetime(2024, 11, 3, 5, 30)),
    ],
)
def test_daily_job_runs_once_on_dst_days(
    zone: str, day: datetime, hour: int, expected_utc: datetime
) -> None:
    tz = ZoneInfo(zone)
    cron = crontab(minute=30, hour=hour, tz=zone)
    start = (day - timedelta(days=1)).replace(tzinfo=tz)
    runs = _runs(cron, start, (day + timedelta(days=2)).replace(tzinfo=tz))
    assert len(runs) == 3  # the day before, the DST day, the day after: once each
    assert runs[1] == expected_utc.replace(tzinfo=UTC)
    assert [r.astimezone(tz).date() for r in runs] == [
        (day + timedelta(days=n)).date() for n in (-1, 0, 1)
    ]
    # the day after is back at the usual wall-clock time
    assert (runs[2].astimezone(tz).hour, runs[2].astimezone(tz).minute) == (hour, 30)


def test_hourly_job_across_dst_uses_wall_clock() -> None:
    zone = ZoneInfo("America/New_York")
    cron = crontab(minute=0, tz="America/New_York")
    spring = _runs(
        cron, datetime(2024, 3, 10, 0, 30, tzinfo=zone), datetime(2024, 3, 10, 5, 30, tzinfo=zone)
    )
    assert [r.astimezone(zone).hour for r in spring] == [1, 3, 4, 5]  # 02:00 does not exist
    fall = _runs(
        cron, datetime(2024, 11, 3, 0, 30, tzinfo=zone), datetime(2024, 11, 3, 4, 30, tzinfo=zone)
    )
    assert [r.astimezone(zone).hour for r in fall] == [1, 2, 3, 4]  # the second 01:00 is skipped
    assert len(set(fall)) == len(fall)


def test_timezone_comes_from_the_app() -> None:
    from celeriac import Celery

    app = Celery("tz", broker="memory://tz", set_as_current=False)
    app.conf.timezone = "Europe/Kyiv"
    cron = crontab(minute=0, hour=18)
    cron.app = app
    # 18:00 in Kyiv in May (EEST, UTC+3) is 15:00 UTC
    assert cron.next_run_after(START) == datetime(2024, 5, 15, 15, 0, tzinfo=UTC)
