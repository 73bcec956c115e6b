"""The database scheduler against a real database: what it loads, what an idle tick costs,
how it follows edits, and what it sends."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from celeriac import Celery
from celeriac.beat import Beat
from celeriac.beat.schedules import crontab
from celeriac.beat.service import scheduler_class
from celeriac.beat.stores import MemoryStore
from celeriac.contrib.django.beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)
from celeriac.contrib.django.beat.scheduler import DatabaseScheduler

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sent() -> list[tuple[str, list[Any], dict[str, Any], dict[str, Any]]]:
    return []


@pytest.fixture
def app(clock: Clock, sent: list[Any]) -> Any:
    app = Celery("beat-suite", broker=f"memory://{uuid.uuid4().hex}", backend="memory://")
    app.now = clock  # type: ignore[method-assign]

    def send_task(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        sent.append((name, list(args or ()), dict(kwargs or {}), options))

    app.send_task = send_task  # type: ignore[method-assign]
    yield app
    app.close()


def make_scheduler(app: Any, **options: Any) -> DatabaseScheduler:
    scheduler = DatabaseScheduler(app, stores=[MemoryStore()], **options)
    scheduler.setup_schedule()
    return scheduler


def every(seconds: int) -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=seconds, period="seconds")


def test_the_names_users_configure_mean_the_database_scheduler() -> None:
    for name in (
        "django",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "django_celery_beat.schedulers.DatabaseScheduler",
    ):
        assert scheduler_class(name) is DatabaseScheduler


def test_beat_schedule_is_written_into_the_table_and_loaded(app: Any) -> None:
    app.conf.timezone = "Europe/Kyiv"
    app.conf.beat_schedule = {
        "reject": {"task": "shop.reject", "schedule": crontab(minute=0, hour=18)},
        "poll": {
            "task": "shop.poll",
            "schedule": 30.0,
            "args": (1, "a"),
            "kwargs": {"k": True},
            "options": {"queue": "io", "priority": 3, "expires": 20},
        },
    }
    scheduler = make_scheduler(app)
    rows = {row.name: row for row in PeriodicTask.objects.select_related("crontab", "interval")}
    assert rows["reject"].crontab.timezone == "Europe/Kyiv"
    assert (rows["reject"].crontab.minute, rows["reject"].crontab.hour) == ("0", "18")
    assert rows["poll"].interval.every == 30 and rows["poll"].interval.period == "seconds"
    assert json.loads(rows["poll"].args) == [1, "a"] and rows["poll"].queue == "io"
    assert rows["poll"].expire_seconds == 20 and rows["poll"].priority == 3
    assert set(scheduler.schedule) == {"reject", "poll"}
    assert scheduler.schedule["reject"].schedule == crontab(minute=0, hour=18)
    # settings win over the table for their own rows at every start (django-celery-beat's rule)
    PeriodicTask.objects.filter(name="poll").update(args="[2]")
    make_scheduler(app)
    assert json.loads(PeriodicTask.objects.get(name="poll").args) == [1, "a"]


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The SQL the scheduler ran, unquoted (MySQL quotes names with backticks), without a
    new connection's set-up (with ``CONN_MAX_AGE = 0`` Django's MySQL backend opens each
    connection with ``SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED``)."""
    found = [q["sql"].replace('"', "").replace("`", "") for q in queries]
    return [sql for sql in found if not sql.startswith("SET ")]


def test_an_idle_poll_reads_one_row(app: Any) -> None:
    interval = every(60)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"t{i}", task="shop.t", interval=interval) for i in range(200)
    )
    PeriodicTasks.update_changed()
    scheduler = make_scheduler(app)
    assert len(scheduler.schedule) == 200
    with CaptureQueriesContext(connection) as queries:
        scheduler.poll()
        scheduler.poll()
    reads = statements(queries)
    assert len(reads) == 2, reads
    assert "periodictasks" in reads[0]


def test_an_edit_reloads_only_the_edited_row(app: Any, clock: Clock, sent: list[Any]) -> None:
    interval = every(60)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"t{i}", task="shop.t", interval=interval) for i in range(300)
    )
    PeriodicTasks.update_changed()
    scheduler = make_scheduler(app)
    scheduler.tick(clock.now)
    row = PeriodicTask.objects.get(name="t7")
    row.args = '["edited"]'
    row.interval = every(5)
    row.save()
    with CaptureQueriesContext(connection) as queries:
        scheduler.poll()
    loads = [sql for sql in statements(queries) if "FROM django_celery_beat_periodictask " in sql]
    assert loads and all(" IN (" in sql for sql in loads)  # the task's id, the new interval's
    entry = scheduler.schedule["t7"]
    assert list(entry.args) == ["edited"] and entry.schedule.seconds == 5  # type: ignore[attr-defined]
    clock.now += timedelta(seconds=5)
    scheduler.tick(clock.now)
    assert [(name, args) for name, args, _, _ in sent] == [("shop.t", ["edited"])]


def test_deletes_disables_renames_and_schedule_edits_are_followed(app: Any) -> None:
    cron = CrontabSchedule.objects.create(minute="0", hour="18", timezone="Europe/Kyiv")
    for name in ("a", "b", "c"):
        PeriodicTask.objects.create(name=name, task="shop.t", crontab=cron)
    scheduler = make_scheduler(app)
    PeriodicTask.objects.get(name="a").delete()
    disabled = PeriodicTask.objects.get(name="b")
    disabled.enabled = False
    disabled.save()
    renamed = PeriodicTask.objects.get(name="c")
    renamed.name = "c2"
    renamed.save()
    cron.hour = "19"
    cron.save()
    scheduler.poll()
    assert set(scheduler.schedule) == {"c2"}
    assert scheduler.schedule["c2"].schedule == crontab(minute=0, hour=19)


def test_a_writer_without_the_change_log_makes_one_full_reload(app: Any) -> None:
    interval = every(60)
    PeriodicTask.objects.create(name="a", task="shop.t", interval=interval)
    scheduler = make_scheduler(app)
    PeriodicTask.objects.filter(name="a").update(task="shop.other")  # no signals
    scheduler.poll()
    assert scheduler.schedule["a"].task == "shop.t"  # the trigger did not move
    PeriodicTasks.update_changed()  # django-celery-beat's documented step after update()
    scheduler.poll()
    assert scheduler.schedule["a"].task == "shop.other"


def test_what_is_sent_carries_the_rows_options(app: Any, clock: Clock, sent: list[Any]) -> None:
    PeriodicTask.objects.create(
        name="opts",
        task="shop.t",
        interval=every(10),
        args="[1, 2]",
        kwargs='{"x": "y"}',
        queue="main_worker",
        routing_key="rk",
        priority=7,
        expire_seconds=30,
        headers='{"h": 1}',
    )
    scheduler = make_scheduler(app)
    scheduler.tick(clock.now)
    clock.now += timedelta(seconds=10)
    scheduler.tick(clock.now)
    assert len(sent) == 1
    name, args, kwargs, options = sent[0]
    assert (name, args, kwargs) == ("shop.t", [1, 2], {"x": "y"})
    assert options["queue"] == "main_worker" and options["routing_key"] == "rk"
    assert options["priority"] == 7 and options["expires"] == 30
    assert options["headers"] == {"h": 1, "periodic_task_name": "opts"}
    scheduler.sync()
    row = PeriodicTask.objects.get(name="opts")
    assert row.total_run_count == 1 and row.last_run_at == clock.now


def test_a_clocked_one_off_runs_once_and_is_disabled(
    app: Any, clock: Clock, sent: list[Any]
) -> None:
    at = ClockedSchedule.objects.create(clocked_time=T0 + timedelta(minutes=5))
    PeriodicTask.objects.create(name="once", task="shop.once", clocked=at, one_off=True)
    scheduler = make_scheduler(app)
    assert scheduler.tick(clock.now) > 0
    clock.now += timedelta(minutes=5)
    scheduler.tick(clock.now)
    clock.now += timedelta(minutes=5)
    scheduler.tick(clock.now)
    scheduler.poll()
    assert [name for name, *_ in sent] == ["shop.once"]
    assert PeriodicTask.objects.get(name="once").enabled is False
    assert "once" not in scheduler.schedule


def test_start_time_and_expiry(app: Any, clock: Clock, sent: list[Any]) -> None:
    PeriodicTask.objects.create(
        name="later", task="shop.later", interval=every(3600), start_time=T0 + timedelta(minutes=1)
    )
    PeriodicTask.objects.create(
        name="ending", task="shop.ending", interval=every(60), expires=T0 + timedelta(seconds=90)
    )
    scheduler = make_scheduler(app)
    scheduler.tick(clock.now)
    clock.now += timedelta(minutes=1)
    scheduler.tick(clock.now)  # later: at its start time, not an hour after beat started
    clock.now += timedelta(minutes=1)
    scheduler.tick(clock.now)  # ending: runs at +60 s, then its next run is past its expiry
    assert [name for name, *_ in sent] == ["shop.later", "shop.ending"]
    assert PeriodicTask.objects.get(name="ending").enabled is False


def test_beat_runs_it_with_the_leader_lock(app: Any) -> None:
    PeriodicTask.objects.create(name="a", task="shop.t", interval=every(60))
    beat = Beat(app, scheduler="django", persist=True, schedule_filename="/nonexistent/x")
    assert isinstance(beat.scheduler, DatabaseScheduler)
    assert beat.lock is not None  # the memory broker's lock: one leader
    assert not any(type(s).__name__ == "FileStore" for s in beat.scheduler.stores)
    assert beat.scheduler.max_interval == 5.0
