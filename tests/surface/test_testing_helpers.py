"""celeriac.contrib.testing and the pytest plugin, used the way Celery's docs and suite use them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.contrib.testing import app as testing_app
from celeriac.contrib.testing import mocks
from celeriac.contrib.testing.manager import Manager, Sentinel
from celeriac.contrib.testing.worker import (
    TestWorkController,
    start_worker,
    test_worker_started,
    test_worker_stopped,
)
from celeriac.execution import context

pytestmark = pytest.mark.timeout(60)


class Multiply(Task[Any, Any]):
    """A class-based task registered through ``celery_class_tasks``."""

    name = "surface.multiply"

    def run(self, x: int, y: int) -> int:
        return x * y


@pytest.fixture(scope="session")
def celery_class_tasks() -> list[Any]:
    return [Multiply]


@pytest.fixture(scope="session")
def celery_config() -> dict[str, Any]:
    # memory:// is one broker per process: the session worker (alive until the session
    # ends) consumes a queue no other test uses
    return {"task_default_queue": "surface-session"}


def test_session_app_and_worker(
    celery_session_app: Celery, celery_session_worker: TestWorkController
) -> None:
    assert celery_session_app.conf.broker_url == "memory://"
    assert celery_session_app.send_task("celery.ping").get(timeout=10) == "pong"
    assert celery_session_app.send_task("surface.multiply", (6, 7)).get(timeout=10) == 42


@pytest.mark.celery(result_extended=True, task_default_queue="marked")
def test_celery_marker_overrides_settings(celery_app: Celery) -> None:
    assert celery_app.conf.result_extended is True
    assert celery_app.conf.task_default_queue == "marked"


def test_start_worker_pings_and_signals() -> None:
    app = testing_app.TestApp(set_as_current=False)
    seen: list[str] = []

    def started(sender: Any, worker: Any, consumer: Any, **_: Any) -> None:
        seen.append("started")

    def stopped(sender: Any, worker: Any, **_: Any) -> None:
        seen.append("stopped")

    test_worker_started.connect(started)
    test_worker_stopped.connect(stopped)
    try:
        with testing_app.setup_default_app(app), start_worker(app) as worker:
            worker.ensure_started()
            assert seen == ["started"]
    finally:
        test_worker_started.disconnect(started)
        test_worker_stopped.disconnect(stopped)
    assert seen == ["started", "stopped"]


def test_trap_catches_code_using_the_current_app() -> None:
    app = testing_app.TestApp()
    before = context.get_current_app()
    with testing_app.setup_default_app(app, use_trap=True):
        with pytest.raises(RuntimeError, match="current_app"):
            _ = context.get_current_app().conf
    assert context.get_current_app() is before


# memory:// is one broker per process: a queue of its own keeps the session worker out
@pytest.mark.celery(task_default_queue="surface-manager")
def test_manager_waits_and_queries(celery_app: Celery) -> None:
    # A node name of its own: the session worker (same memory:// broker, same process)
    # would answer remote control as celeriac-test@<host> too, and the Manager's merged
    # replies keep whichever came last.
    with start_worker(celery_app, pool="solo", hostname="surface-manager@%h"):
        _manager_waits_and_queries(celery_app)


def _manager_waits_and_queries(celery_app: Celery) -> None:
    @celery_app.task(name="surface.add")
    def add(x: int, y: int) -> int:
        return x + y

    manager = Manager(celery_app)
    results = [add.delay(i, i) for i in range(3)]
    # join() waits with a callback, so (as in Celery) the values are not collected
    assert manager.join(celery_app.GroupResult("g", results), timeout=10) == []
    assert [r.get(timeout=1) for r in results] == [0, 2, 4]
    calls = iter([Sentinel(), Sentinel(), "done"])

    def flaky() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert manager.wait_for(flaky, (Sentinel,), interval_start=0.01, interval_step=0.01) == "done"
    manager.ensure_not_for_a_while(
        lambda: manager.true_or_raise(lambda: False), (Sentinel,), max_retries=2
    )
    with pytest.raises(AssertionError, match="Should not have happened"):
        manager.ensure_not_for_a_while(lambda: True, (Sentinel,), max_retries=2)
    assert manager.is_result_task_in_progress(results)

    @celery_app.task(name="surface.nap")
    def nap() -> None:
        time.sleep(4)  # long enough to be seen running on a loaded machine

    napping = nap.delay()
    manager.assert_accepted([napping.id], max_retries=10, interval_start=0.1, interval_step=0.1)
    states = manager.query_task_states([napping.id])
    assert napping.id in states["active"], dict(states)
    manager.wait_until_idle()


def test_mocks_build_task_messages(celery_app: Celery) -> None:
    message = mocks.TaskMessage("proj.add", id="t1", args=(1, 2), kwargs={"z": 3}, retries=1)
    assert message.headers["task"] == "proj.add" and message.headers["retries"] == 1
    args, kwargs, embed = json.loads(message.body)
    assert (args, kwargs, embed["callbacks"]) == ([1, 2], {"z": 3}, None)
    assert message.content_type == "application/json"
    old = mocks.TaskMessage1("proj.add", id="t2", args=(5,))
    assert old.payload["id"] == "t2" and json.loads(old.body)["args"] == [5]

    @celery_app.task(name="surface.echo")
    def echo(x: int) -> int:
        return x

    sig = echo.s(1).set(countdown=10, expires=60)
    from_sig = mocks.task_message_from_sig(celery_app, sig)
    assert from_sig.headers["id"] == sig.id and from_sig.headers["eta"]
    with mocks.ContextMock() as cm:
        assert cm is not None
