"""update_state() progress and task_track_started, seen through AsyncResult on every transport."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_progress_meta_is_visible_while_the_task_runs(make_app, worker):
    app = make_app(task_track_started=True)
    step = threading.Event()
    release = threading.Event()

    @app.task(bind=True)
    def work(self: Any, total: int) -> str:
        for current in range(1, total + 1):
            self.update_state(state="PROGRESS", meta={"current": current, "total": total})
            if current == 3:
                step.set()
                release.wait(10)
        return "done"

    worker(app)
    result = work.delay(10)
    assert step.wait(10)
    wait_for(lambda: result.state == "PROGRESS" and result.info["current"] == 3)
    assert result.info == {"current": 3, "total": 10}
    assert not result.ready()
    release.set()
    assert result.get(timeout=10) == "done"
    assert result.state == "SUCCESS"


def test_started_state_with_task_track_started(make_app, worker):
    app = make_app(task_track_started=True)
    release = threading.Event()

    @app.task
    def work() -> int:
        release.wait(10)
        return 1

    @app.task
    async def awork() -> int:
        await asyncio.to_thread(release.wait, 10)
        return 2

    controller = worker(app)
    result, aresult = work.delay(), awork.delay()
    wait_for(lambda: result.state == "STARTED" and aresult.state == "STARTED")
    assert result.info["hostname"] == controller.hostname
    assert isinstance(aresult.info["pid"], int)
    release.set()
    assert result.get(timeout=10) == 1 and aresult.get(timeout=10) == 2


def test_async_task_progress(make_app, worker):
    app = make_app()
    release = asyncio.Event()
    loop_box: list[asyncio.AbstractEventLoop] = []

    @app.task(bind=True)
    async def work(self: Any) -> str:
        loop_box.append(asyncio.get_running_loop())
        self.update_state(state="PROGRESS", meta={"current": 1, "total": 2})
        await asyncio.wait_for(release.wait(), 10)
        return "done"

    worker(app)
    result = work.delay()
    wait_for(lambda: result.state == "PROGRESS")
    assert result.info == {"current": 1, "total": 2}
    loop_box[0].call_soon_threadsafe(release.set)
    assert result.get(timeout=10) == "done"
