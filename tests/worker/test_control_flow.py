"""Reject, Ignore, acks_late=False and time limits on a worker."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from celeriac.exceptions import Ignore, Reject, SoftTimeLimitExceeded, TimeLimitExceeded

pytestmark = pytest.mark.timeout(30)


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_reject_without_requeue_dead_letters(app, worker):
    @app.task
    def refuse() -> None:
        raise Reject("bad input", requeue=False)

    worker(app)
    result = refuse.delay()
    wait_for(lambda: any(d.task_id == result.id for d in app.transport.dead_letters()))
    (letter,) = [d for d in app.transport.dead_letters() if d.task_id == result.id]
    assert "bad input" in letter.reason
    assert app.transport.queue_length("celery") == 0


def test_reject_with_requeue_runs_again(app, worker):
    calls: list[int] = []

    @app.task(bind=True)
    def once_more(self) -> int:
        calls.append(self.request.delivery_count)
        if len(calls) == 1:
            raise Reject("not yet", requeue=True)
        return len(calls)

    worker(app)
    result = once_more.delay()
    assert result.get(timeout=5) == 2
    assert calls[1] > calls[0]


def test_ignore_stores_nothing_and_acks(app, worker):
    ran = threading.Event()

    @app.task
    def skip() -> None:
        ran.set()
        raise Ignore()

    worker(app)
    result = skip.delay()
    assert ran.wait(5)
    time.sleep(0.2)
    assert result.state == "PENDING"
    assert app.transport.queue_length("celery") == 0
    assert not app.transport.dead_letters()


def test_acks_late_false_still_stores_the_result(app, worker):
    @app.task(acks_late=False)
    def early(x: int) -> int:
        return x + 1

    @app.task(acks_late=False)
    def early_failure() -> None:
        raise ValueError("boom")

    worker(app)
    assert early.delay(1).get(timeout=5) == 2
    with pytest.raises(ValueError):
        early_failure.delay().get(timeout=5)
    assert app.transport.queue_length("celery") == 0


def test_soft_time_limit_can_be_handled_in_a_sync_task(app, worker):
    @app.task(soft_time_limit=0.2)
    def cleanup() -> str:
        try:
            for _ in range(300):
                time.sleep(0.01)
        except SoftTimeLimitExceeded:
            return "cleaned up"
        return "finished"

    worker(app, pool="threads")
    assert cleanup.delay().get(timeout=5) == "cleaned up"


def test_soft_time_limit_unhandled_fails_the_task(app, worker):
    @app.task
    def slow() -> None:
        for _ in range(300):
            time.sleep(0.01)

    worker(app, pool="threads")
    result = slow.apply_async(soft_time_limit=0.2)
    with pytest.raises(SoftTimeLimitExceeded):
        result.get(timeout=5)


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_hard_time_limit_fails_a_sync_task_and_the_worker_goes_on(app, worker, pool):
    @app.task(time_limit=0.3)
    def stuck() -> None:
        time.sleep(2)

    @app.task
    def quick() -> str:
        return "still working"

    worker(app, pool=pool)
    started = time.monotonic()
    result = stuck.delay()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=5)
    assert time.monotonic() - started < 1.5
    assert result.state == "FAILURE"
    assert quick.delay().get(timeout=5) == "still working"


def test_hard_time_limit_cancels_an_async_task(app, worker):
    cancelled = threading.Event()

    @app.task(time_limit=0.2)
    async def stuck() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    worker(app)
    result = stuck.delay()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=5)
    assert cancelled.is_set()


def test_async_task_soft_time_limit(app, worker):
    @app.task(soft_time_limit=0.2, time_limit=2)
    async def stuck() -> None:
        await asyncio.sleep(5)

    @app.task
    async def fine() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    worker(app)
    with pytest.raises(SoftTimeLimitExceeded):
        stuck.delay().get(timeout=5)
    assert fine.apply_async(time_limit=1).get(timeout=5) == "ok"


def test_worker_time_limit_option_applies_to_every_task(make_app, worker):
    app = make_app(task_time_limit=0.3)

    @app.task
    async def stuck() -> None:
        await asyncio.sleep(5)

    worker(app)
    with pytest.raises(TimeLimitExceeded):
        stuck.delay().get(timeout=5)
