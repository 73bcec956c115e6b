"""An in-process worker's events on every transport: worker-online/heartbeat/offline, the task
lifecycle with -E, enable_events/disable_events and the heartbeat control command."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from celeriac import Celery
from celeriac.exceptions import Reject
from events.listener import Listener
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)


def _tasks(app: Celery) -> None:
    @app.task(name="ev.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="ev.fail")
    def fail(text: str) -> None:
        raise ValueError(text)

    @app.task(name="ev.grow")
    def grow(mb: int) -> int:
        keep.append(bytearray(mb * 1024 * 1024))
        return len(keep)

    @app.task(name="ev.reject")
    def reject() -> None:
        raise Reject("no thanks", requeue=False)

    @app.task(name="ev.retry", bind=True, max_retries=1, default_retry_delay=0)
    def retry(self, x: int) -> int:  # type: ignore[no-untyped-def]
        if self.request.retries == 0:
            raise self.retry(exc=KeyError("again"))
        return x

    keep: list[bytearray] = []


def test_worker_with_task_events_sends_the_lifecycle(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    _tasks(app)
    with Listener(app) as seen:
        running = worker(app, send_events=True, hostname="ev1@test", heartbeat_interval=0.5)
        seen.wait_for(lambda types: "worker-online" in types)
        ok = app.send_task("ev.add", (2, 2))
        bad = app.send_task("ev.fail", ("boom",))
        assert ok.get(timeout=10) == 4
        with pytest.raises(ValueError):
            bad.get(timeout=10)
        seen.wait_for(lambda types: types.count("task-succeeded") == 1 and "task-failed" in types)
        seen.wait_for(lambda types: "worker-heartbeat" in types)
        running.stop()
        types = seen.wait_for(lambda types: "worker-offline" in types)
    assert types[0] == "worker-online"
    assert types[-1] == "worker-offline"
    [received] = [e for e in seen.of("task-received") if e["uuid"] == ok.id]
    assert received["name"] == "ev.add"
    assert received["args"] == "(2, 2)" and received["kwargs"] == "{}"
    assert received["root_id"] == ok.id and received["parent_id"] is None
    assert received["retries"] == 0 and received["eta"] is None and received["expires"] is None
    assert received["hostname"] == "ev1@test"
    [succeeded] = seen.of("task-succeeded")
    assert succeeded["result"] == "4"
    assert succeeded["runtime"] >= 0
    assert isinstance(succeeded["rss"], int) and isinstance(succeeded["rss_delta"], int)
    [failed] = seen.of("task-failed")
    assert failed["exception"] == "ValueError('boom')"
    assert "Traceback" in failed["traceback"] and "runtime" in failed
    online = seen.of("worker-online")[0]
    assert online["freq"] == 0.5 and online["sw_ident"] == "py-celeriac"
    assert online["sw_sys"] and online["sw_ver"]
    assert len(online["loadavg"]) == 3
    offline = seen.of("worker-offline")[0]
    assert offline["processed"] == 2 and offline["active"] == 0
    state = seen.state
    assert state.tasks[ok.id].state == "SUCCESS"
    assert state.tasks[bad.id].state == "FAILURE"
    assert "ev1@test" not in state.workers  # offline


def test_without_task_events_only_worker_events_are_sent(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    _tasks(app)
    with Listener(app) as seen:
        running = worker(app, hostname="ev2@test")
        seen.wait_for(lambda types: "worker-online" in types)
        assert app.send_task("ev.add", (1, 1)).get(timeout=10) == 2
        running.stop()
        types = seen.wait_for(lambda types: "worker-offline" in types)
    assert [t for t in types if t.startswith("task-")] == []


def test_enable_and_disable_events_by_remote_control(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    _tasks(app)
    with Listener(app) as seen:
        worker(app, hostname="ev3@test")
        seen.wait_for(lambda types: "worker-online" in types)
        replies = app.control.enable_events(destination=["ev3@test"], reply=True, timeout=5)
        assert replies == [{"ev3@test": {"ok": "task events enabled"}}]
        again = app.control.enable_events(destination=["ev3@test"], reply=True, timeout=5)
        assert again == [{"ev3@test": {"ok": "task events already enabled"}}]
        result = app.send_task("ev.add", (3, 3))
        assert result.get(timeout=10) == 6
        seen.wait_for(lambda types: "task-succeeded" in types)
        off = app.control.disable_events(destination=["ev3@test"], reply=True, timeout=5)
        assert off == [{"ev3@test": {"ok": "task events disabled"}}]
        app.send_task("ev.add", (4, 4)).get(timeout=10)
        time.sleep(0.5)
        assert len(seen.of("task-succeeded")) == 1
        # The heartbeat command makes the node send one now, with Celery's freq of 5.
        app.control.heartbeat()
        seen.wait_for(lambda _: any(e["freq"] == 5.0 for e in seen.of("worker-heartbeat")))


def test_receiver_wakeup_asks_workers_for_a_heartbeat(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    worker(app, hostname="ev4@test", heartbeat_interval=60)
    time.sleep(0.3)
    with Listener(app, wakeup=True) as seen:
        seen.wait_for(lambda types: "worker-heartbeat" in types, timeout=10)
    assert seen.state.workers["ev4@test"].alive


def test_retried_rejected_and_revoked_tasks(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    _tasks(app)
    with Listener(app) as seen:
        worker(app, send_events=True, hostname="ev5@test")
        seen.wait_for(lambda types: "worker-online" in types)
        retried = app.send_task("ev.retry", (7,))
        assert retried.get(timeout=15) == 7
        rejected = app.send_task("ev.reject")
        expired = app.send_task("ev.add", (1, 2), expires=datetime.now(UTC) - timedelta(seconds=10))
        seen.wait_for(
            lambda types: "task-rejected" in types and "task-revoked" in types, timeout=15
        )
    [retry] = seen.of("task-retried")
    assert retry["uuid"] == retried.id and retry["exception"] == "KeyError('again')"
    # task-retried leaves before the retry message: the next run is seen after it
    assert [e["type"] for e in seen.events if e.get("uuid") == retried.id] == [
        "task-received",
        "task-started",
        "task-retried",
        "task-received",
        "task-started",
        "task-succeeded",
    ]
    assert [e["requeue"] for e in seen.of("task-rejected") if e["uuid"] == rejected.id] == [False]
    [revoked] = seen.of("task-revoked")
    assert revoked["uuid"] == expired.id
    assert revoked["expired"] is True and revoked["terminated"] is False
    assert seen.state.tasks[retried.id].state == "SUCCESS"
    assert seen.state.tasks[retried.id].retries == 1


def test_task_sent_events_come_from_the_producer(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    from helpers.vectors import load_vector

    app = make_app(task_send_sent_event=True)
    _tasks(app)
    with Listener(app) as seen:
        worker(app, send_events=True, hostname="ev6@test")
        result = app.send_task("ev.add", (5, 5))
        assert result.get(timeout=10) == 10
        seen.wait_for(lambda types: "task-succeeded" in types)
    [sent] = seen.of("task-sent")
    captured = next(
        m["decoded_body"]
        for m in load_vector("13-redis-events-task-lifecycle.json")["messages"]
        if m["channel"].endswith("task.sent")
    )
    assert [k for k in sent if k != "local_received"] == list(captured)
    assert sent["hostname"].startswith("gen")
    assert sent["uuid"] == result.id and sent["name"] == "ev.add"
    assert sent["args"] == "(5, 5)" and sent["queue"] == "celery"
    assert sent["exchange"] == "" and sent["routing_key"] == "celery"
    task = seen.state.tasks[result.id]
    assert task.client == sent["hostname"] and task.sent is not None
    assert task.state == "SUCCESS"


def test_a_task_sends_a_custom_event_without_minus_e(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    """``self.send_event('task-progress', …)`` reaches monitors as in Celery: from the
    worker's node name, with the task's id, even when the worker sends no task events."""
    app = make_app()

    @app.task(name="ev.progress", bind=True)
    def progress(self, total: int) -> int:  # type: ignore[no-untyped-def]
        for done in range(1, total + 1):
            self.send_event("task-progress", done=done, total=total)
        return total

    with Listener(app) as seen:
        worker(app, hostname="ev7@test")
        result = app.send_task("ev.progress", (3,))
        assert result.get(timeout=10) == 3
        seen.wait_for(lambda types: types.count("task-progress") == 3)
    events = seen.of("task-progress")
    assert [e["done"] for e in events] == [1, 2, 3]
    assert {e["uuid"] for e in events} == {result.id}
    assert {e["hostname"] for e in events} == {"ev7@test"} and events[0]["total"] == 3
    assert not seen.of("task-received")  # no -E: only what the task sent itself
