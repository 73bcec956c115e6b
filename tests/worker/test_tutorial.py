"""The Celery first-steps tutorial, on every transport and every in-process pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from celeriac import Celery, group
from celeriac.results.result import GroupResult

pytestmark = pytest.mark.timeout(30)


def define_add(app: Celery):  # type: ignore[no-untyped-def]
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    return add


def test_delay_and_get(app, worker):
    add = define_add(app)
    worker(app)
    result = add.delay(4, 4)
    assert result.get(timeout=5) == 8
    assert result.ready() and result.successful() and not result.failed()
    assert result.state == "SUCCESS"


def test_signatures_with_partial_args(app, worker):
    add = define_add(app)
    worker(app)
    assert add.s(2, 2).delay().get(timeout=5) == 4
    assert add.s(2).delay(8).get(timeout=5) == 10


def test_countdown_waits(app, worker):
    add = define_add(app)
    worker(app)
    sent = time.monotonic()
    result = add.apply_async((2, 2), countdown=1)
    time.sleep(0.5)
    assert result.state == "PENDING"
    assert result.get(timeout=5) == 4
    assert time.monotonic() - sent >= 1.0


def test_link_callback_is_a_child(app, worker):
    add = define_add(app)
    worker(app)
    result = add.apply_async((2, 2), link=add.s(16))
    assert result.get(timeout=5) == 4
    (child,) = result.children
    assert child.get(timeout=5) == 20
    assert child.parent is None or child.parent.id == result.id


def test_group_results_in_order(app, worker):
    add = define_add(app)
    worker(app, concurrency=4)
    result = group(add.s(i, i) for i in range(10))()
    assert isinstance(result, GroupResult)
    assert result.get(timeout=5) == [i + i for i in range(10)]
    assert result.ready() and result.successful() and result.completed_count() == 10


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_sync_task_runs_off_the_loop_on_each_pool(app, worker, pool):
    @app.task
    def where() -> tuple[str, bool]:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        return threading.current_thread().name, on_loop

    worker(app, pool=pool, concurrency=3)
    names = [where.delay() for _ in range(6)]
    values = [r.get(timeout=5) for r in names]
    assert all(name.startswith("celeriac-task") and not on_loop for name, on_loop in values)


def test_solo_pool_runs_one_sync_task_at_a_time(app, worker):
    running: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    @app.task
    def slow() -> None:
        with lock:
            running.append(1)
            peak.append(len(running))
        time.sleep(0.05)
        with lock:
            running.pop()

    worker(app, pool="solo", concurrency=4)
    for result in [slow.delay() for _ in range(4)]:
        result.get(timeout=5)
    assert max(peak) == 1


def test_threads_pool_runs_sync_tasks_concurrently(app, worker):
    barrier = threading.Barrier(3, timeout=5)

    @app.task
    def meet() -> int:
        return barrier.wait()

    worker(app, pool="threads", concurrency=3)
    results = [meet.delay() for _ in range(3)]
    assert sorted(r.get(timeout=5) for r in results) == [0, 1, 2]


def test_async_tasks_run_concurrently_on_the_loop(app, worker):
    @app.task
    async def nap(seconds: float) -> bool:
        await asyncio.sleep(seconds)
        return threading.current_thread().name == "celeriac-test-worker"

    worker(app, pool="solo")
    started = time.monotonic()
    results = [nap.delay(0.3) for _ in range(10)]
    assert all(r.get(timeout=5) for r in results)
    assert time.monotonic() - started < 2.0  # 10 x 0.3 s would be 3 s one at a time
