"""Schedulers written for Celery: its constructor and methods, loaded with ``-S``, firing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat import PersistentScheduler, ScheduleEntry, Scheduler, SchedulingError
from celeriac.beat.stores import MemoryStore
from helpers.beat import start
from helpers.processes import Project, wait_until

T0 = datetime(2024, 5, 15, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("celery_sched", broker=f"memory://cs-{uuid.uuid4().hex}", backend="memory://")
    app.conf.beat_schedule = {"conf": {"task": "tasks.tick", "schedule": 10.0}}
    yield app
    app.close()


def sent(app: Celery) -> int:
    return int(app.transport.queue_length("celery"))


def test_celery_constructor_lazy_schedule_and_sync_every(app: Celery) -> None:
    assert "conf" in Scheduler(app).schedule  # not lazy: setup_schedule ran
    lazy = Scheduler(app, lazy=True)
    assert dict(lazy.schedule) == {}
    initial = {"mine": {"task": "tasks.tick", "schedule": timedelta(seconds=5), "args": (1,)}}
    sched = Scheduler(app, schedule=initial, max_interval=7, Producer=object, lazy=True)
    assert list(sched.schedule) == ["mine"] and sched.max_interval == 7
    assert isinstance(sched.schedule["mine"], ScheduleEntry)
    assert sched.sync_every_tasks == 0
    app.conf.beat_sync_every = 3
    assert Scheduler(app, lazy=True).sync_every_tasks == 3
    assert Scheduler(app, lazy=True, sync_every_tasks=5).sync_every_tasks == 5


def test_entry_has_celerys_constructor_next_and_update(app: Celery) -> None:
    entry = ScheduleEntry(
        name="e", task="tasks.tick", last_run_at=T0, total_run_count=2, schedule=30,
        args=(1,), kwargs={"k": 1}, options={"queue": "q"}, relative=False, app=app,
    )  # fmt: skip
    after = next(entry)
    assert type(after) is ScheduleEntry and after.total_run_count == 3
    assert after.last_run_at is not None and after.last_run_at > T0
    assert dict(after)["args"] == (1,) and after.options == {"queue": "q"}
    other = ScheduleEntry(name="e", task="tasks.other", schedule=60, app=app)
    assert not entry.editable_fields_equal(other)
    entry.update(other)
    assert entry.task == "tasks.other" and entry.total_run_count == 2
    assert entry.editable_fields_equal(other)
    due, wait = entry.is_due()
    assert isinstance(due, bool) and wait > 0


class CeleryStyle(Scheduler):
    """What a project writes for Celery: its own entries, sync and apply_async."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.synced = 0
        self.applied: list[str] = []
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        self.install_default_entries(self.schedule)
        self.merge_inplace({"every": {"task": "tasks.tick", "schedule": 1.0, "args": (2,)}})

    def sync(self) -> None:
        self.synced += 1
        super().sync()

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        self.applied.append(entry.name)
        return super().apply_async(entry, producer, advance, **kwargs)


def test_celery_style_subclass_fires_through_its_own_hooks(app: Celery) -> None:
    sched = CeleryStyle(app, stores=[MemoryStore()])
    assert list(sched.schedule) == ["every"]  # merge_inplace dropped nothing it had
    sched.tick(T0)
    assert sched.tick(T0 + timedelta(seconds=1.5)) <= 1.0
    assert sent(app) == 1 and sched.applied == ["every"]
    assert sched.schedule["every"].total_run_count == 1
    assert sched.should_sync()
    sched._do_sync()
    assert sched.synced == 1 and not sched.should_sync()


def test_reserve_apply_async_and_merge_keep_run_history(app: Celery) -> None:
    sched = Scheduler(app, lazy=True, stores=[MemoryStore()], sync_every_tasks=1)
    sched.update_from_dict({"a": {"task": "tasks.tick", "schedule": 5.0}})
    entry = sched.schedule["a"]
    result = sched.apply_async(entry)
    assert result.id and sent(app) == 1
    assert sched.schedule["a"].total_run_count == 1  # reserved: next(entry)
    sched._last_sync = 1e18  # the timer is not due; one task sent is
    assert sched.should_sync()
    spec = {"task": "tasks.tick", "schedule": 5.0}
    sched.merge_inplace({"a": spec, "b": dict(sched.schedule["a"])})
    assert sched.schedule["a"].total_run_count == 1 and set(sched.schedule) == {"a", "b"}
    assert sched.schedules_equal(sched.schedule, dict(sched.schedule))
    sched.merge_inplace({"b": {"task": "tasks.tick", "schedule": 5.0}})
    assert list(sched.schedule) == ["b"]
    assert Scheduler.adjust(2.0) == pytest.approx(1.99) and Scheduler.adjust(0) == 0
    bad = ScheduleEntry(name="bad", task="tasks.tick", schedule=1, args=(object(),), app=app)
    with pytest.raises(SchedulingError, match="bad"):
        sched.apply_async(bad, advance=False)


class PropertySchedule(Scheduler):
    """django-celery-beat's shape: the ``schedule`` property is the source of entries."""

    rows: Mapping[str, ScheduleEntry] = {}

    @property  # type: ignore[override]
    def schedule(self) -> Mapping[str, ScheduleEntry]:
        return self.rows

    def setup_schedule(self) -> None:
        self.rows = {"row": self.Entry(name="row", task="tasks.tick", schedule=1.0, app=self.app)}


def test_overridden_schedule_property_is_what_fires(app: Celery) -> None:
    sched = PropertySchedule(app, stores=[MemoryStore()])
    sched.tick(T0)
    sched.tick(T0 + timedelta(seconds=1.5))
    assert sent(app) == 1
    sched.rows = {}
    sched.tick(T0 + timedelta(seconds=5))
    assert sent(app) == 1
    assert PersistentScheduler(app, lazy=True, schedule_filename="x.db").info.endswith("x.db")


PROJECT = """
from celeriac.beat import Scheduler


@app.task(name="tasks.custom_mark")
def custom_mark(tag):
    mark("custom-runs.txt", tag)


class ProjectScheduler(Scheduler):
    def __init__(self, app, schedule=None, max_interval=None, Producer=None, lazy=False,
                 sync_every_tasks=None, **kwargs):
        mark("scheduler-init.txt", f"lazy={lazy}")
        super().__init__(app, schedule, max_interval, Producer, lazy, sync_every_tasks, **kwargs)

    def setup_schedule(self):
        self.update_from_dict({"custom": {"task": "tasks.custom_mark", "schedule": 1.0,
                                          "args": ("from-scheduler",)}})

    def sync(self):
        mark("scheduler-sync.txt")
        super().sync()

    def close(self):
        mark("scheduler-close.txt")
        super().close()
"""


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_dash_s_loads_a_celery_style_scheduler_that_fires(tmp_path: Path) -> None:
    with Project(tmp_path, PROJECT) as project:
        project.start_worker(pool="threads", concurrency=2)
        beat = start(project, "beat", "-S", "tasks:ProjectScheduler")
        wait_until(lambda: len(project.read_lines("custom-runs.txt")) >= 2, 30, 0.1, beat.log)
        assert project.read_lines("custom-runs.txt")[0].endswith("from-scheduler")
        assert project.read_lines("scheduler-init.txt")[0].endswith("lazy=True")
        assert project.read_lines("scheduler-sync.txt")  # synced after its first tick
        beat.stop()
        assert project.read_lines("scheduler-close.txt")


def test_schedule_helpers(app: Celery) -> None:
    from zoneinfo import ZoneInfo

    from celeriac.schedules import crontab, schedule

    app.conf.timezone = "Europe/Paris"
    every = schedule(timedelta(seconds=10), app=app)
    assert every.human_seconds == "10.00 seconds"
    assert every.utc_enabled is True
    naive = datetime(2024, 5, 15, 12, 0)
    assert every.maybe_make_aware(naive, naive_as_utc=True).utcoffset() == timedelta(0)
    local = every.to_local(datetime(2024, 5, 15, 10, 0, tzinfo=UTC))
    assert local.tzinfo == ZoneInfo("Europe/Paris") and local.hour == 12
    assert crontab.from_string(crontab="30 4 * * 1").minute == {30}
