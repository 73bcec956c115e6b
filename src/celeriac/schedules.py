"""Celery's ``celery.schedules`` path: interval, crontab and solar schedules."""

from __future__ import annotations

from celeriac.beat.schedules import (
    BaseSchedule,
    ParseException,
    crontab,
    crontab_parser,
    maybe_schedule,
    schedstate,
    schedule,
)
from celeriac.beat.solar import SolarEventNeverHappens, solar

__all__ = [
    "BaseSchedule",
    "ParseException",
    "SolarEventNeverHappens",
    "crontab",
    "crontab_parser",
    "maybe_schedule",
    "schedstate",
    "schedule",
    "solar",
]
