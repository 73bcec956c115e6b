"""Worker lifecycle: warm and cold shutdown give work back, max_tasks_per_child, sync waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from celeriac import group

pytestmark = pytest.mark.timeout(30)


def test_warm_shutdown_finishes_the_running_task_and_returns_prefetched_ones(app, worker):
    started = threading.Event()

    @app.task
    def slow(n: int) -> int:
        started.set()
        time.sleep(0.3)
        return n

    first = worker(app, pool="solo", prefetch_multiplier=4)
    results = [slow.delay(i) for i in range(5)]
    assert started.wait(5)
    first.stop()
    assert results[0].state == "SUCCESS"
    assert app.transport.queue_length("celery") == 4
    worker(app, pool="threads", concurrency=4)
    assert [r.get(timeout=5) for r in results] == list(range(5))


def test_cold_shutdown_gives_the_running_task_back(app, worker):
    started = threading.Event()
    runs: list[int] = []

    @app.task
    async def slow() -> int:
        runs.append(1)
        started.set()
        if len(runs) == 1:
            await asyncio.sleep(5)
        return len(runs)

    first = worker(app)
    result = slow.delay()
    assert started.wait(5)
    first.stop(cold=True)
    assert result.state == "PENDING"
    worker(app)
    assert result.get(timeout=5) == 2


def test_countdown_task_survives_a_worker_restart(app, worker):
    @app.task
    def later() -> str:
        return "ran"

    first = worker(app)
    result = later.apply_async(countdown=0.5)
    first.stop()
    assert app.transport.queue_length("celery") == 1
    worker(app)
    assert result.get(timeout=5) == "ran"


def test_max_tasks_per_child_stops_the_in_process_consumer(app, worker):
    @app.task
    def one() -> int:
        return 1

    controller = worker(app, pool="solo", max_tasks_per_child=2, prefetch_multiplier=1)
    results = [one.delay() for _ in range(4)]
    assert results[0].get(timeout=5) == 1 and results[1].get(timeout=5) == 1
    controller.thread.join(timeout=5)
    assert not controller.thread.is_alive()
    assert sum(r.state == "SUCCESS" for r in results) == 2
    worker(app)
    assert [r.get(timeout=5) for r in results] == [1, 1, 1, 1]


def test_get_inside_a_task_is_refused_unless_allowed(app, worker):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def waits() -> int:
        return add.delay(1, 1).get(timeout=2)

    @app.task
    def waits_anyway() -> int:
        return add.delay(1, 1).get(timeout=2, disable_sync_subtasks=False)

    worker(app, concurrency=2)
    with pytest.raises(RuntimeError, match=r"Never call result\.get"):
        waits.delay().get(timeout=5)
    assert waits_anyway.delay().get(timeout=5) == 2


def test_group_with_a_failing_member(app, worker):
    @app.task
    def maybe(n: int) -> int:
        if n == 1:
            raise ValueError("one")
        return n

    worker(app)
    result = group(maybe.s(i) for i in range(3))()
    with pytest.raises(ValueError, match="one"):
        result.get(timeout=5)
    values = result.get(timeout=5, propagate=False)
    assert values[0] == 0 and isinstance(values[1], ValueError) and values[2] == 2
    assert result.failed() and not result.successful() and result.completed_count() == 2


def test_update_state_from_an_async_task(app, worker):
    release = asyncio.Event()
    loop_box: list[asyncio.AbstractEventLoop] = []

    @app.task(bind=True)
    async def progress(self) -> str:
        loop_box.append(asyncio.get_running_loop())
        self.update_state(state="PROGRESS", meta={"step": 1})
        await asyncio.wait_for(release.wait(), 5)
        return "done"

    worker(app)
    result = progress.delay()
    deadline = time.monotonic() + 5
    while result.state != "PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert result.info == {"step": 1}
    loop_box[0].call_soon_threadsafe(release.set)
    assert result.get(timeout=5) == "done"
