"""Per-call time limits: ``apply_async(time_limit=…, soft_time_limit=…)`` on every pool."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from celeriac.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from helpers.processes import Project

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_per_call_limits_on_sync_tasks(make_app, worker, pool):
    app = make_app()

    @app.task
    def sleepy(seconds: float) -> str:
        try:
            for _ in range(int(seconds * 100)):
                time.sleep(0.01)
        except SoftTimeLimitExceeded:
            return "cleaned up"
        return "finished"

    @app.task(time_limit=0.2)
    def limited_by_default(seconds: float) -> str:
        time.sleep(seconds)
        return "finished"

    worker(app, pool=pool)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        sleepy.apply_async((3,), time_limit=0.3, soft_time_limit=None).get(timeout=10)
    assert time.monotonic() - started < 2.5
    assert sleepy.apply_async((3,), soft_time_limit=0.2).get(timeout=10) == "cleaned up"
    assert sleepy.apply_async((0.05,)).get(timeout=10) == "finished"
    # the call's value replaces the task's own
    assert limited_by_default.apply_async((0.5,), time_limit=5).get(timeout=10) == "finished"


@pytest.mark.parametrize("transport_kind", ["memory", "sqlite"], indirect=True)
def test_per_call_limits_on_async_tasks(make_app, worker):
    app = make_app()

    @app.task
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "finished"

    worker(app)
    with pytest.raises(TimeLimitExceeded):
        nap.apply_async((5,), time_limit=0.2).get(timeout=10)
    with pytest.raises(SoftTimeLimitExceeded):
        nap.apply_async((5,), soft_time_limit=0.2, time_limit=3).get(timeout=10)
    assert nap.apply_async((0.05,), time_limit=2).get(timeout=10) == "finished"


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
def test_eager_calls_see_the_per_call_limits_in_their_request(make_app):
    app = make_app(task_always_eager=True)

    @app.task(bind=True, soft_time_limit=7)
    def limits(self) -> list[float | None]:
        return list(self.request.timelimit)

    assert limits.apply_async(time_limit=30).get() == [30, 7]
    assert limits.apply_async(time_limit=30, soft_time_limit=20).get() == [30, 20]


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
def test_eager_requests_fall_back_to_the_time_limit_settings(make_app):
    app = make_app(task_always_eager=True, task_time_limit=60, task_soft_time_limit=50)

    @app.task(bind=True)
    def limits(self) -> list[float | None]:
        return list(self.request.timelimit)

    @app.task(bind=True, soft_time_limit=7)
    def own_soft_limit(self) -> list[float | None]:
        return list(self.request.timelimit)

    assert limits.apply_async().get() == [60, 50]
    assert own_soft_limit.apply_async().get() == [60, 7]
    # a given value wins even when it is 0 ("no limit")
    assert own_soft_limit.apply_async(time_limit=0, soft_time_limit=0).get() == [0, 0]


@pytest.mark.parametrize("transport_kind", ["memory", "sqlite"], indirect=True)
@pytest.mark.parametrize("source", ["task", "config"])
def test_time_limit_zero_switches_a_limit_off(make_app, worker, source):
    """``apply_async(time_limit=0)`` means "no limit": it wins over the task's limit and
    over ``task_time_limit`` (a given value counts even when falsy)."""
    app = make_app(**({"task_time_limit": 0.3} if source == "config" else {}))

    @app.task(**({"time_limit": 0.3} if source == "task" else {}))
    def sleepy(seconds: float) -> str:
        time.sleep(seconds)
        return "finished"

    worker(app)
    with pytest.raises(TimeLimitExceeded):  # the task's or the configuration's limit
        sleepy.apply_async((3,)).get(timeout=10)
    assert sleepy.apply_async((0.8,), time_limit=0).get(timeout=10) == "finished"


PREFORK_TASKS = """
from celeriac.exceptions import SoftTimeLimitExceeded


@app.task
def sleepy(seconds):
    mark("started.txt")
    try:
        for _ in range(int(seconds * 100)):
            time.sleep(0.01)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "finished"
"""


@pytest.mark.slow
def test_per_call_limits_in_prefork(tmp_path: Path) -> None:
    with Project(tmp_path, PREFORK_TASKS) as project:
        worker = project.start_worker(concurrency=1)
        producer = project.producer()
        pids = set(worker.child_pids())
        hard = producer.send_task("tasks.sleepy", (30,), time_limit=1)
        with pytest.raises(TimeLimitExceeded):
            hard.get(timeout=20)
        soft = producer.send_task("tasks.sleepy", (30,), soft_time_limit=0.5, time_limit=10)
        assert soft.get(timeout=20) == "cleaned up"
        assert producer.send_task("tasks.sleepy", (0.05,)).get(timeout=20) == "finished"
        assert set(worker.child_pids()) != pids, "the hard limit replaced the child"
