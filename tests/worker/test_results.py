"""Results a worker stores: states, progress, extended meta, failures, expiry, async waiting."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from datetime import UTC, datetime, timedelta

import pytest

from celeriac import group
from celeriac.exceptions import EncodeError, SyncInAsyncContextError
from celeriac.exceptions import TimeoutError as ResultTimeout
from celeriac.results.result import GroupResult

pytestmark = pytest.mark.timeout(30)


class Boom(Exception):
    pass


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_update_state_progress_is_visible_while_running(app, worker):
    release = threading.Event()

    @app.task(bind=True)
    def work(self) -> str:
        self.update_state(state="PROGRESS", meta={"done": 3, "total": 10})
        release.wait(5)
        return "finished"

    worker(app)
    result = work.delay()
    wait_for(lambda: result.state == "PROGRESS")
    assert result.info == {"done": 3, "total": 10}
    assert not result.ready()
    release.set()
    assert result.get(timeout=5) == "finished"
    assert result.info == "finished"


def test_track_started(make_app, worker):
    app = make_app(task_track_started=True)
    release = threading.Event()

    @app.task
    def work() -> int:
        release.wait(5)
        return 1

    @app.task(track_started=False)
    def untracked() -> int:
        release.wait(5)
        return 2

    controller = worker(app)
    result = work.delay()
    quiet = untracked.delay()
    wait_for(lambda: result.state == "STARTED")
    assert result.info["hostname"] == controller.hostname
    time.sleep(0.1)
    assert quiet.state == "PENDING"
    release.set()
    assert result.get(timeout=5) == 1 and quiet.get(timeout=5) == 2


def test_progress_is_not_overwritten_by_started(make_app, worker):
    app = make_app(task_track_started=True)
    release = threading.Event()

    @app.task(bind=True)
    def work(self) -> int:
        self.update_state(state="PROGRESS", meta={"step": 1})
        release.wait(5)
        return 1

    worker(app)
    result = work.delay()
    wait_for(lambda: result.state == "PROGRESS")
    time.sleep(0.1)  # a late STARTED write would land now
    assert result.state == "PROGRESS" and result.info == {"step": 1}
    release.set()
    assert result.get(timeout=5) == 1


def test_without_track_started_a_running_task_is_pending(app, worker):
    release = threading.Event()
    running = threading.Event()

    @app.task
    def work() -> None:
        running.set()
        release.wait(5)

    worker(app)
    result = work.delay()
    assert running.wait(5)
    time.sleep(0.05)
    assert result.state == "PENDING"
    release.set()
    result.get(timeout=5)


def test_result_extended(make_app, worker):
    app = make_app(result_extended=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    controller = worker(app, queues=["celery", "maths"])
    result = add.apply_async((2, 3), {}, queue="maths")
    assert result.get(timeout=5) == 5
    fresh = app.AsyncResult(result.id)
    assert fresh.name == add.name
    assert fresh.args == [2, 3] and fresh.kwargs == {}
    assert fresh.worker == controller.hostname
    assert fresh.queue == "maths"


def test_result_expires(make_app, worker):
    app = make_app(result_expires=1)

    @app.task
    def soon_gone() -> int:
        return 7

    worker(app)
    result = soon_gone.delay()
    assert result.get(timeout=5) == 7
    fresh = app.AsyncResult(result.id)
    assert fresh.state == "SUCCESS"
    time.sleep(1.1)
    assert app.AsyncResult(result.id).state == "PENDING"
    assert app.backend.get(result.id) is None


def test_failure_result(app, worker):
    @app.task
    def fail(text: str) -> None:
        raise Boom(text)

    worker(app)
    before = datetime.now(UTC)
    result = fail.delay("bad thing")
    with pytest.raises(Boom, match="bad thing"):
        result.get(timeout=5)
    fresh = app.AsyncResult(result.id)
    assert fresh.state == "FAILURE" and fresh.failed() and fresh.ready()
    assert not fresh.successful()
    assert isinstance(fresh.result, Boom)
    assert "Boom: bad thing" in fresh.traceback and "raise Boom(text)" in fresh.traceback
    assert before - timedelta(seconds=1) <= fresh.date_done <= datetime.now(UTC)
    assert fresh.date_done.tzinfo is not None
    value = app.AsyncResult(result.id).get(timeout=5, propagate=False)
    assert isinstance(value, Boom) and str(value) == "bad thing"


def test_success_has_date_done_and_no_traceback(app, worker):
    @app.task
    def ok() -> int:
        return 1

    worker(app)
    result = ok.delay()
    result.get(timeout=5)
    assert result.traceback is None
    assert isinstance(result.date_done, datetime)


def test_exception_class_unknown_to_the_reader_comes_back_as_a_stand_in(app, worker):
    module = types.ModuleType("vanishing_errors")
    exec("class Gone(Exception):\n    pass\n", module.__dict__)
    sys.modules["vanishing_errors"] = module

    @app.task
    def fail() -> None:
        raise module.Gone("from elsewhere")

    worker(app)
    result = fail.delay()
    wait_for(result.ready)
    del sys.modules["vanishing_errors"]
    with pytest.raises(Exception) as info:
        app.AsyncResult(result.id).get(timeout=5)
    error = info.value
    assert type(error).__name__ == "Gone" and type(error) is not module.Gone
    assert "vanishing_errors.Gone" in str(error) and "from elsewhere" in str(error)


def test_forget(app, worker):
    @app.task
    def remember() -> int:
        return 5

    worker(app)
    result = remember.delay()
    assert result.get(timeout=5) == 5
    result.forget()
    assert app.backend.get(result.id) is None
    assert app.AsyncResult(result.id).state == "PENDING"


async def test_get_inside_a_running_loop_names_aget(app, worker):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    result = await add.adelay(1, 2)
    with pytest.raises(SyncInAsyncContextError, match=r"aget\(\)"):
        result.get(timeout=5)
    assert await result.aget(timeout=5) == 3
    other = await add.aapply_async((5, 5), countdown=0)
    assert await other.aget(timeout=5) == 10
    members = group(add.s(i, i) for i in range(3))()
    with pytest.raises(SyncInAsyncContextError):
        members.get(timeout=5)
    assert await members.aget(timeout=5) == [0, 2, 4]


async def test_aget_does_not_block_the_loop(app, worker):
    @app.task
    async def nap() -> str:
        await asyncio.sleep(0.3)
        return "awake"

    worker(app)
    result = await nap.adelay()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    assert await result.aget(timeout=5) == "awake"
    ticker.cancel()
    assert ticks >= 10


def test_get_timeout(app):
    @app.task
    def never_run() -> None: ...

    result = never_run.delay()
    started = time.monotonic()
    with pytest.raises(ResultTimeout):
        result.get(timeout=0.2)
    assert time.monotonic() - started < 1.5


def test_group_result_save_and_restore(app, worker):
    @app.task
    def double(x: int) -> int:
        return x * 2

    worker(app)
    result = group(double.s(i) for i in range(4))()
    result.save()
    restored = GroupResult.restore(result.id, app=app)
    assert restored is not None
    assert restored.id == result.id
    assert [r.id for r in restored.results] == [r.id for r in result.results]
    assert restored.get(timeout=5) == [0, 2, 4, 6]
    assert app.GroupResult(result.id).id == result.id
    restored.delete()
    assert GroupResult.restore(result.id, app=app) is None


def test_unserializable_return_value_fails_with_encode_error(app, worker):
    @app.task
    def bad() -> object:
        return object()

    @app.task
    def good() -> int:
        return 1

    worker(app, pool="solo")
    # Sent together so both results land in one write batch: the bad one must not sink it.
    results = [bad.delay(), good.delay(), bad.delay()]
    assert results[1].get(timeout=5) == 1
    for result in (results[0], results[2]):
        with pytest.raises(EncodeError, match="object"):
            result.get(timeout=5)
        assert result.state == "FAILURE"
    assert app.transport.queue_length("celery") == 0
