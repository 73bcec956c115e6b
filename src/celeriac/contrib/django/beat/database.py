"""What the database scheduler reads and writes: rows to schedules, last runs, settings sync.

Imported once Django is set up (``scheduler.py`` does it first): every function here talks
to the ORM. Database errors leave as celeriac's ``OperationalError`` (beat logs them,
pauses and tries again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from celeriac.beat.schedules import BaseSchedule, crontab, schedule
from celeriac.beat.solar import solar
from celeriac.beat.stores import EntryState, Store
from celeriac.contrib.django.beat.models import (
    SCHEDULE_FIELDS,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTaskChange,
    PeriodicTasks,
    SolarSchedule,
)
from celeriac.exceptions import OperationalError
from celeriac.utils.log import own_logger

__all__ = [
    "Change",
    "DatabaseStore",
    "Row",
    "clocked",
    "database_errors",
    "disable",
    "load_changed",
    "load_enabled",
    "new_changes",
    "prune_changes",
    "sync_entries",
    "trigger",
]

logger = own_logger(__name__)

#: ids per ``IN (...)`` (SQLite's variable limit is 999 on old builds)
CHUNK = 500
_EPSILON = timedelta(microseconds=1)


class clocked(BaseSchedule):
    """Fires once, at ``clocked_time`` (django-celery-beat's clocked schedule)."""

    def __init__(self, clocked_time: datetime) -> None:
        self.clocked_time = clocked_time.astimezone(UTC)
        super().__init__()

    def next_run_after(self, last_run_at: datetime) -> datetime:
        """Always the clocked time (the task is one-off: it is disabled after its run)."""
        return self.clocked_time

    def __repr__(self) -> str:
        return f"<clocked: {self.clocked_time.isoformat()}>"


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """Turn Django's database errors into ``OperationalError`` (beat pauses and retries)."""
    try:
        yield
    except (DatabaseError, InterfaceError) as exc:
        close_old_connections()
        raise OperationalError(f"database scheduler: {what}: {exc}") from exc


def from_db(value: datetime | None) -> datetime | None:
    """A datetime read from the database, aware (``USE_TZ = False`` stores local time)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value.astimezone(UTC)


def to_db(value: datetime) -> datetime:
    """A datetime to store (naive local time when ``USE_TZ = False``)."""
    if not settings.USE_TZ:
        local: datetime = timezone.make_naive(value, timezone.get_default_timezone())
        return local
    return value


@dataclass(slots=True)
class Row:
    """One enabled periodic task as beat sends it."""

    id: int
    name: str
    task: str
    schedule: BaseSchedule
    args: list[object]
    kwargs: dict[str, object]
    options: dict[str, object]
    last_run_at: datetime | None
    total_run_count: int
    one_off: bool
    start_time: datetime | None
    expires: datetime | None
    changed: datetime | None
    is_interval: bool


class _Schedules:
    """Schedule objects shared by equal rows (100,000 crontabs stay small)."""

    def __init__(self) -> None:
        self._made: dict[tuple[object, ...], BaseSchedule] = {}

    def of(self, task: PeriodicTask) -> BaseSchedule:
        kind = task.schedule_kind
        row = getattr(task, kind) if kind else None
        if row is None:
            raise ValueError("no schedule set")
        key = self._key(kind, row)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = self._make(kind, row)
        return made

    @staticmethod
    def _key(kind: str | None, row: Any) -> tuple[object, ...]:
        if kind == "crontab":
            fields = (row.minute, row.hour, row.day_of_week, row.day_of_month, row.month_of_year)
            return (kind, *fields, str(row.timezone))
        if kind == "interval":
            return (kind, row.every, row.period)
        if kind == "solar":
            return (kind, row.event, float(row.latitude), float(row.longitude))
        return (kind, row.clocked_time)

    @staticmethod
    def _make(kind: str | None, row: Any) -> BaseSchedule:
        if kind == "crontab":
            fields = (row.minute, row.hour, row.day_of_week, row.day_of_month, row.month_of_year)
            minute, hour, dow, dom, moy = (str(value).replace(" ", "") or "*" for value in fields)
            return crontab(minute, hour, dow, dom, moy, tz=str(row.timezone))
        if kind == "interval":
            return schedule(row.run_every)
        if kind == "solar":
            return solar(row.event, float(row.latitude), float(row.longitude))
        clocked_time = from_db(row.clocked_time)
        assert clocked_time is not None
        return clocked(clocked_time)


def _row(task: PeriodicTask, schedules: _Schedules) -> Row:
    return Row(
        id=int(task.id),
        name=str(task.name),
        task=str(task.task),
        schedule=schedules.of(task),
        args=task.loaded_args(),
        kwargs=task.loaded_kwargs(),
        options=task.send_options(),
        last_run_at=from_db(task.last_run_at),
        total_run_count=int(task.total_run_count),
        one_off=bool(task.one_off),
        start_time=from_db(task.start_time),
        expires=from_db(task.expires),
        changed=from_db(task.date_changed),
        is_interval=task.interval_id is not None,
    )


def _rows(tasks: Iterable[PeriodicTask]) -> tuple[list[Row], set[int]]:
    """Rows that beat can send, and the ids of the others (disabled, broken)."""
    schedules = _Schedules()
    found: list[Row] = []
    dropped: set[int] = set()
    for task in tasks:
        if not task.enabled:
            dropped.add(int(task.id))
            continue
        try:
            found.append(_row(task, schedules))
        except (ValueError, TypeError, LookupError) as exc:
            logger.error("beat: periodic task %r cannot be scheduled: %s", task.name, exc)
            dropped.add(int(task.id))
    return found, dropped


def trigger() -> datetime | None:
    """The trigger (``PeriodicTasks.last_update``): what an idle tick reads (one row)."""
    with database_errors("reading the change trigger"):
        close_old_connections()
        return PeriodicTasks.last_change()


def last_change_id() -> int:
    """The newest change id (0 when there is none)."""
    with database_errors("reading the change log"):
        newest = PeriodicTaskChange.objects.order_by("-id").values_list("id", flat=True).first()
    return int(newest or 0)


@dataclass(frozen=True, slots=True)
class Change:
    """One logged change: ``kind`` (``task`` or a schedule field) and the row's id."""

    id: int
    kind: str
    object_id: int


def new_changes(after: int) -> list[Change]:
    """Changes logged after id ``after``, oldest first."""
    with database_errors("reading the change log"):
        found = PeriodicTaskChange.objects.filter(id__gt=after).order_by("id")
        return [Change(c[0], c[1], c[2]) for c in found.values_list("id", "kind", "object_id")]


def _related() -> Any:
    return PeriodicTask.objects.select_related(*SCHEDULE_FIELDS)


def load_enabled() -> list[Row]:
    """Every enabled periodic task (a full load: at start and when a writer logged nothing)."""
    with database_errors("loading the periodic tasks"):
        return _rows(_related().filter(enabled=True).iterator(chunk_size=2000))[0]


def load_changed(changes: Iterable[Change]) -> tuple[list[Row], set[int]]:
    """The rows the changes touch: those to (re)schedule, and the ids to drop."""
    by_kind: dict[str, set[int]] = {}
    for change in changes:
        by_kind.setdefault(change.kind, set()).add(change.object_id)
    task_ids = by_kind.pop("task", set())
    found: list[Row] = []
    dropped: set[int] = set()
    with database_errors("loading changed periodic tasks"):
        for field, ids in [("id", task_ids), *((f"{k}_id", v) for k, v in by_kind.items())]:
            if field[:-3] not in SCHEDULE_FIELDS and field != "id":
                continue
            ordered = sorted(ids)
            for start in range(0, len(ordered), CHUNK):
                query = Q(**{f"{field}__in": ordered[start : start + CHUNK]})
                rows, off = _rows(_related().filter(query))
                found.extend(rows)
                dropped |= off
    seen = {row.id for row in found} | dropped
    return found, dropped | (task_ids - seen)


def disable(task_id: int) -> None:
    """Disable a task without moving the trigger (a one-off after its run, an expired one)."""
    with database_errors("disabling a periodic task"):
        PeriodicTask.objects.filter(id=task_id).update(enabled=False)


def prune_changes(up_to: int) -> None:
    """Delete changes already read (another beat that takes over loads everything)."""
    with database_errors("pruning the change log"):
        PeriodicTaskChange.objects.filter(id__lte=up_to).delete()


class DatabaseStore(Store):
    """Last runs in the rows themselves (``last_run_at``, ``total_run_count``), as the
    admin shows them. Written without moving the trigger."""

    def load(self) -> dict[str, EntryState]:
        """The last runs of the enabled rows that have run."""
        with database_errors("loading last runs"):
            rows = PeriodicTask.objects.filter(enabled=True, last_run_at__isnull=False)
            found = rows.values_list("name", "last_run_at", "total_run_count").iterator()
            return {str(name): EntryState(from_db(last), int(count)) for name, last, count in found}

    def save(self, states: Mapping[str, EntryState]) -> bool:
        """Write runs (a first state, never run, is not written: the row stays blank)."""
        runs = [
            (name, state)
            for name, state in states.items()
            if state.last_run_at and (state.total_run_count or state.pending)
        ]
        if not runs:
            return True
        with database_errors("saving last runs"), transaction.atomic():
            for name, state in runs:
                assert state.last_run_at is not None
                PeriodicTask.objects.filter(name=name).update(
                    last_run_at=to_db(state.last_run_at), total_run_count=state.total_run_count
                )
        return True


# -- beat_schedule into the table -------------------------------------------------------
def _schedule_row(value: BaseSchedule, tz: tzinfo) -> tuple[str, Any]:
    if isinstance(value, crontab):
        minute, hour, dow, dom, moy = (_field(item) for item in value._orig)
        zone = value._tz if value._tz is not None else tz
        row, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_week=dow,
            day_of_month=dom,
            month_of_year=moy,
            timezone=str(zone),
        )
        return "crontab", row
    if isinstance(value, schedule):
        seconds = value.seconds
        every, period = (int(seconds), "seconds")
        if seconds != int(seconds):
            every, period = int(seconds * 1_000_000), "microseconds"
        interval = IntervalSchedule.objects.filter(every=every, period=period).first()
        return "interval", interval or IntervalSchedule.objects.create(every=every, period=period)
    if isinstance(value, solar):
        solar_row, _ = SolarSchedule.objects.get_or_create(
            event=value.event, latitude=value.lat, longitude=value.lon
        )
        return "solar", solar_row
    if isinstance(value, clocked):
        return "clocked", ClockedSchedule.objects.create(clocked_time=value.clocked_time)
    raise ValueError(f"cannot store {value!r} in the database")


def _field(value: Any) -> str:
    return str(value) if isinstance(value, int | str) else ",".join(map(str, sorted(value)))


_OPTION_COLUMNS = ("queue", "exchange", "routing_key", "priority", "headers", "expires")


def _option_columns(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(options) - set(_OPTION_COLUMNS) - {"expire_seconds"}
    if unknown:
        logger.warning("beat: entry %s: options %s have no column: not kept", name, sorted(unknown))
    columns: dict[str, Any] = {key: options.get(key) for key in _OPTION_COLUMNS[:4]}
    columns["headers"] = json.dumps(options.get("headers") or {})
    expires = options.get("expires", options.get("expire_seconds"))
    columns["expires"] = to_db(expires) if isinstance(expires, datetime) else None
    columns["expire_seconds"] = int(expires) if isinstance(expires, int | float) else None
    return columns


def sync_entries(entries: Mapping[str, Any], tz: tzinfo) -> None:
    """Write ``beat_schedule``-style entries (``ScheduleEntry`` objects) into the table,
    by name (django-celery-beat's rule: settings win over admin edits of these rows,
    except ``enabled``)."""
    with database_errors("writing beat_schedule into the table"):
        for name, entry in entries.items():
            try:
                kind, row = _schedule_row(entry.schedule, tz)
            except ValueError as exc:
                logger.error("beat: entry %s: %s", name, exc)
                continue
            defaults: dict[str, Any] = dict.fromkeys(SCHEDULE_FIELDS)
            defaults.update(
                task=entry.task,
                args=json.dumps(list(entry.args)),
                kwargs=json.dumps(dict(entry.kwargs)),
                **_option_columns(name, entry.options),
            )
            defaults[kind] = row
            with transaction.atomic():
                PeriodicTask.objects.update_or_create(name=name, defaults=defaults)
