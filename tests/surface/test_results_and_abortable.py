"""Celery's result API beyond ``get()`` and abortable tasks, with a real worker on each broker."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import Celery, chain
from celeriac.contrib.abortable import ABORTED, AbortableAsyncResult, AbortableTask
from celeriac.exceptions import IncompleteStream
from celeriac.result import ResultBase, allow_join_result, denied_join_result
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


#: set by the abortable task once it runs (the worker is in this process)
RUNNING = threading.Event()


def _tasks(app: Celery) -> dict[str, Any]:
    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="t.fail")
    def fail() -> None:
        raise ValueError("boom")

    @app.task(name="t.slow")
    def slow(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @app.task(name="t.waits", bind=True)
    def waits(self: Any, task_id: str) -> int:
        with allow_join_result():
            return int(app.AsyncResult(task_id).get(timeout=10))

    @app.task(bind=True, base=AbortableTask, name="t.abortable")
    def abortable(self: AbortableTask) -> str:
        RUNNING.set()
        for _ in range(400):
            if self.is_aborted():
                return "aborted"
            time.sleep(0.02)
        return "finished"

    return {
        "add": add, "fail": fail, "slow": slow, "waits": waits, "abortable": abortable,
    }  # fmt: skip


def test_get_hooks_collect_and_maybe_throw(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    messages: list[str] = []
    ticks: list[int] = []
    got: list[tuple[str, Any]] = []
    res = t["slow"].delay(0.3)
    value = res.get(
        timeout=10,
        on_message=lambda meta: messages.append(str(meta["status"])),
        on_interval=lambda: ticks.append(1),
        callback=lambda task_id, v: got.append((task_id, v)),
    )
    assert value == 0.3 and messages[-1] == "SUCCESS" and ticks and got == [(res.id, 0.3)]
    assert res.exists() and not app.AsyncResult("never-sent").exists()
    assert isinstance(res, ResultBase) and res.as_list() == [res.id]

    failed = t["fail"].delay()
    assert isinstance(failed.get(timeout=10, propagate=False), ValueError)
    with pytest.raises(ValueError, match="boom"):
        failed.maybe_throw()
    assert isinstance(failed.maybe_throw(propagate=False), ValueError)

    res = chain(t["add"].s(1, 2), t["add"].s(3)).delay()
    assert res.get(timeout=10) == 6
    assert res.parent is not None and res.parent.get(timeout=10) == 3
    collected = [v for _, v in res.parent.collect(timeout=10)]
    assert collected[0] == 3
    assert res.as_list() == [res.id, res.parent.id]

    pending = t["slow"].delay(1)
    with pytest.raises(IncompleteStream):
        list(pending.iterdeps())  # not ready yet: the graph cannot be walked


def test_then_and_result_set(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app, concurrency=3)
    ready = threading.Event()
    seen: list[Any] = []

    def on_ready(result: Any) -> None:
        seen.append(result.result)
        ready.set()

    t["add"].delay(20, 22).then(on_ready)
    assert ready.wait(10) and seen == [42]

    group_result = app.GroupResult("g1", [t["slow"].delay(0.4), t["add"].delay(1, 1)])
    order: list[str] = []
    assert group_result.join_native(timeout=10) == [0.4, 2]
    group_result.join_native(timeout=10, callback=lambda task_id, v: order.append(task_id))
    assert sorted(order) == sorted(r.id for r in group_result.results)
    assert group_result.get(timeout=10, callback=lambda *_: None) == []
    extra = t["add"].delay(2, 2)
    group_result.update([extra, extra])
    assert len(group_result) == 3
    group_result.discard("missing")
    group_result.remove(extra)
    with pytest.raises(KeyError):
        group_result.remove(extra)
    group_result.clear()
    assert len(group_result) == 0


def test_allow_join_result_inside_a_task(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app, concurrency=2)
    inner = t["add"].delay(5, 5)
    assert t["waits"].delay(inner.id).get(timeout=10) == 10
    with denied_join_result(), pytest.raises(RuntimeError):
        inner.get(timeout=1)


def test_abortable_task_stops_at_its_next_check(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    RUNNING.clear()
    result = t["abortable"].delay()
    assert isinstance(result, AbortableAsyncResult)
    assert RUNNING.wait(10)
    started = time.monotonic()
    result.abort()
    assert result.is_aborted() or result.ready()
    assert result.get(timeout=10) == "aborted"
    assert time.monotonic() - started < 3  # not the 8 s it takes unaborted
    assert not result.is_aborted() and ABORTED == "ABORTED"
