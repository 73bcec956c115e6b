"""Shared entries: added, changed and removed from another process through the broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from celeriac import Celery
from celeriac.beat import Scheduler, SharedSchedule
from celeriac.beat.shared import dump_schedule, load_schedule
from celeriac.beat.stores import MemoryStore
from celeriac.schedules import crontab, schedule, solar


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("shared", broker=f"memory://shared-{uuid.uuid4().hex}", set_as_current=False)
    yield app
    app.close()


@pytest.mark.parametrize(
    "value",
    [
        schedule(30),
        schedule(3600, relative=True),
        crontab(minute="*/15", hour="8-17", day_of_week="mon-fri"),
        crontab(0, 0, day_of_month=[1, 15]),
    ],
)
def test_schedules_round_trip(value: object) -> None:
    assert load_schedule(dump_schedule(value)) == value  # type: ignore[arg-type]


def test_solar_and_plain_numbers_round_trip() -> None:
    pytest.importorskip("ephem")
    assert load_schedule(dump_schedule(solar("sunset", 50.45, 30.52))) == solar(
        "sunset", 50.45, 30.52
    )
    assert load_schedule(dump_schedule(timedelta(minutes=5))) == schedule(300)


def test_a_running_scheduler_picks_up_changes(app: Celery) -> None:
    app.conf.beat_schedule = {"static": {"task": "t.static", "schedule": 60}}
    sched = Scheduler(app, stores=[MemoryStore()], max_interval=1)
    sched.shared = SharedSchedule(app)
    sched.setup_schedule()
    editor = SharedSchedule(Celery("editor", broker=app.broker_url, set_as_current=False))
    editor.add("dyn", "t.dyn", crontab(minute="*/5"), args=(1,), options={"queue": "q"})
    sched.poll()
    assert sched.schedule["dyn"].options == {"queue": "q"}
    assert sched.schedule["dyn"].schedule == crontab(minute="*/5")
    editor.update("dyn", args=(2,))
    sched.poll()  # within max_interval: not read again yet
    assert sched.schedule["dyn"].args == (1,)
    sched._next_poll = 0
    sched.poll()
    assert sched.schedule["dyn"].args == (2,)
    editor.remove("dyn")
    editor.remove("static")
    sched._next_poll = 0
    sched.poll()
    assert set(sched.schedule) == set()
    with pytest.raises(KeyError):
        editor.update("dyn", args=(3,))
    with pytest.raises(TypeError, match="cannot store"):
        editor.add("bad", "t", "often")  # type: ignore[arg-type]
