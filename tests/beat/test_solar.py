"""solar: published almanac times (within a minute), Celery's horizons, and the polar case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

pytest.importorskip("ephem")

from celeriac.schedules import SolarEventNeverHappens, solar

LONDON = (51.51, -0.13)

#: Published sunrise times for 1 January 2002 at longitude 0 (so local mean time is UTC),
#: by latitude, rounded to the minute: Astronomy Answers' "Time of Sunrise for Days and
#: Latitudes" table (aa.quae.nl, "The Position of the Sun: Tables").
ALMANAC = [
    (48, "07:50"),
    (38, "07:16"),
    (18, "06:31"),
    (0, "06:00"),
    (-30, "05:02"),
    (-50, "03:55"),
    (-64, "01:43"),
]


@pytest.mark.parametrize(("lat", "published"), ALMANAC)
def test_sunrise_against_the_almanac(lat: float, published: str) -> None:
    sched = solar("sunrise", lat, 0)
    found = sched.next_run_after(datetime(2002, 1, 1, tzinfo=UTC))
    hour, minute = map(int, published.split(":"))
    expected = datetime(2002, 1, 1, hour, minute, tzinfo=UTC)
    # published times are rounded to the minute: within a minute, plus half a minute
    assert abs(found - expected) <= timedelta(seconds=90), found
    assert sched.event_on(date(2002, 1, 1)) == found


def test_event_order_over_a_day() -> None:
    start = datetime(2025, 3, 20, tzinfo=UTC)
    order = [
        "dawn_astronomical",
        "dawn_nautical",
        "dawn_civil",
        "sunrise",
        "solar_noon",
        "sunset",
        "dusk_civil",
        "dusk_nautical",
        "dusk_astronomical",
    ]
    times = [solar(event, *LONDON).next_run_after(start) for event in order]
    assert times == sorted(times)
    assert all(t.date() == start.date() for t in times)


def test_polar_night_and_day() -> None:
    svalbard = (78.22, 15.65)
    sunrise = solar("sunrise", *svalbard)
    with pytest.raises(SolarEventNeverHappens, match="does not happen on 2024-12-21"):
        sunrise.event_on(date(2024, 12, 21))
    # the scheduler's question skips the polar night: the first sunrise is mid-February
    first = sunrise.next_run_after(datetime(2024, 12, 21, tzinfo=UTC))
    assert date(2025, 2, 10) <= first.date() <= date(2025, 2, 20)
    # polar day: no sunset at midsummer
    with pytest.raises(SolarEventNeverHappens):
        solar("sunset", *svalbard).event_on(date(2025, 6, 21))
    limited = solar("sunrise", *svalbard)
    limited.max_search_days = 5
    with pytest.raises(SolarEventNeverHappens, match="within 5 days"):
        limited.next_run_after(datetime(2024, 12, 21, tzinfo=UTC))


def test_matches_real_celery() -> None:
    celery_schedules = pytest.importorskip("celery.schedules")
    start = datetime(2025, 4, 10, 3, 0, tzinfo=UTC)
    for event in sorted(solar._all_events):
        theirs = celery_schedules.solar(event, 50.45, 30.52, nowfun=lambda: start)
        expected = start + theirs.remaining_estimate(start)
        ours = solar(event, 50.45, 30.52).next_run_after(start)
        assert abs(ours - expected) < timedelta(seconds=1), event


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("noon", 0, 0), "event"),
        (("sunrise", 91, 0), "latitude"),
        (("sunrise", 0, -181), "longitude"),
    ],
)
def test_bad_input(args: tuple[str, float, float], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        solar(*args)
