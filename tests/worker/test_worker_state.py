"""``celeriac.worker.state``: Celery's process-wide worker state, kept by a real worker."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import Celery, group, states
from celeriac.canvas import StampingVisitor
from celeriac.exceptions import TaskRevokedError
from celeriac.worker import state as worker_state
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)

RELEASE = threading.Event()


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _tasks(app: Celery) -> tuple[Any, Any]:
    @app.task(name="state.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="state.blocked")
    def blocked() -> str:
        RELEASE.wait(10)
        return "done"

    return add, blocked


@pytest.mark.parametrize("transport_kind", ["memory", "redis"])
def test_requests_counts_and_successes(app: Celery, worker: WorkerFactory) -> None:
    add, blocked = _tasks(app)
    worker_state.reset_state()
    RELEASE.clear()
    worker(app, pool="threads", concurrency=2)
    running = blocked.delay()
    _wait(lambda: running.id in worker_state.active_requests)
    assert running.id in worker_state.requests
    assert running.id in worker_state.reserved_requests
    RELEASE.set()
    assert running.get(timeout=10) == "done"
    assert add.delay(1, 2).get(timeout=10) == 3
    _wait(lambda: running.id in worker_state.successful_requests)
    assert running.id not in worker_state.active_requests
    assert running.id not in worker_state.requests
    assert worker_state.total_count["state.add"] == 1
    assert worker_state.total_count["state.blocked"] == 1
    assert worker_state.all_total_count == [2]


@pytest.mark.parametrize("transport_kind", ["memory"])
def test_revoked_is_the_running_workers_set(app: Celery, worker: WorkerFactory) -> None:
    add, _ = _tasks(app)
    controller = worker(app, pool="solo", concurrency=1)
    assert worker_state.revoked is controller.consumer.revoked
    future = add.apply_async((1, 1), countdown=1)
    app.control.revoke(future.id)
    _wait(lambda: future.id in worker_state.revoked)
    assert future.id in worker_state.revoked.as_dict()
    with pytest.raises(TaskRevokedError):
        future.get(timeout=10)
    worker_state.revoked.discard(future.id)
    assert future.id not in worker_state.revoked
    worker_state.revoked.add("one-id")  # one id, as Celery's LimitedSet.add
    assert "one-id" in worker_state.revoked and "o" not in worker_state.revoked


class _Monitoring(StampingVisitor):
    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"monitoring_id": "m-42", "stamped_headers": ["monitoring_id"]}


@pytest.mark.parametrize("transport_kind", ["memory", "redis"])
def test_revoke_by_stamped_headers_revokes_later_tasks(app: Celery, worker: WorkerFactory) -> None:
    add, _ = _tasks(app)
    worker(app, pool="threads", concurrency=2)
    replies = app.control.revoke_by_stamped_headers({"monitoring_id": ["m-42"]}, reply=True)
    text = "headers {'monitoring_id': ['m-42']} flagged as revoked, but not terminated"
    assert [next(iter(reply.values())) for reply in replies] == [{"ok": text}]
    terminated = app.control.revoke_by_stamped_headers({"other": "x"}, terminate=True, reply=True)
    assert [next(iter(reply.values())) for reply in terminated] == [
        {"ok": "headers {'other': 'x'} were not terminated"}
    ]
    worker_state.revoked_stamps.pop("other")
    assert worker_state.revoked_stamps == {"monitoring_id": ["m-42"]}
    stamped = add.s(1, 1)
    stamped.stamp(visitor=_Monitoring())
    result = stamped.apply_async()
    with pytest.raises(TaskRevokedError):
        result.get(timeout=10)
    assert result.state == states.REVOKED
    in_group = group([add.s(2, 2), stamped.clone()]).apply_async()
    with pytest.raises(TaskRevokedError):
        in_group.get(timeout=10)
    assert add.delay(3, 3).get(timeout=10) == 6  # unstamped tasks still run
    worker_state.revoked_stamps.clear()
    again = add.s(4, 4)
    again.stamp(visitor=_Monitoring())
    assert again.apply_async().get(timeout=10) == 8


def test_maybe_shutdown_raises_what_was_asked() -> None:
    from celeriac.exceptions import WorkerShutdown, WorkerTerminate

    worker_state.maybe_shutdown()
    worker_state.should_stop = worker_state.should_terminate = False
    worker_state.maybe_shutdown()  # False asks for nothing
    worker_state.should_stop = 0  # an exit code, even 0, asks for a shutdown (as in Celery)
    with pytest.raises(WorkerShutdown):
        worker_state.maybe_shutdown()
    worker_state.should_terminate = 2
    with pytest.raises(WorkerTerminate):
        worker_state.maybe_shutdown()
    worker_state.should_stop = worker_state.should_terminate = None
