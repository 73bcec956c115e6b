"""A real ``celeriac worker -P prefork -E`` process: children publish their own task events,
the parent sends the worker events, enable_events reaches children already running."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from events.listener import Listener
from helpers.processes import PROCESS_TRANSPORTS, project_on, wait_until

pytestmark = pytest.mark.timeout(90)

BODY = """
@app.task(name="pf.add")
def add(x, y):
    return x + y


@app.task(name="pf.sleep")
def sleep(seconds):
    time.sleep(seconds)


@app.task(name="pf.dies", acks_late=True, reject_on_worker_lost=False)
def dies():
    time.sleep(0.3)  # past the event batch window: received and started are out
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="pf.dies_requeued", acks_late=True, reject_on_worker_lost=True)
def dies_requeued():
    if not os.path.exists("died.once"):
        mark("died.once")
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return "second run"


@app.task(name="pf.grow")
def grow(mb):
    grow.keep = getattr(grow, "keep", []) + [bytearray(mb * 1024 * 1024)]
    for block in grow.keep:  # touch the pages so they are resident
        block[::4096] = b"x" * len(block[::4096])
    return mb
"""


@pytest.mark.parametrize("kind", PROCESS_TRANSPORTS)
def test_prefork_children_send_their_own_task_events(kind: str, tmp_path: Path) -> None:
    with project_on(kind, tmp_path, BODY) as project:
        producer = project.producer()
        with Listener(producer) as seen:
            worker = project.start_worker("-E", "-n", "pf@test", concurrency=2)
            seen.wait_for(lambda types: "worker-online" in types)
            results = [producer.send_task("pf.add", (i, i)) for i in range(6)]
            grown = producer.send_task("pf.grow", (40,))
            assert [r.get(timeout=20) for r in results] == [2 * i for i in range(6)]
            assert grown.get(timeout=20) == 40
            seen.wait_for(lambda types: types.count("task-succeeded") == 7)
            worker.send(signal.SIGTERM)
            assert worker.wait() == 0
            types = seen.wait_for(lambda types: "worker-offline" in types)
    parent = worker.pid
    senders = {e["pid"] for e in seen.events if e["type"].startswith("task-")}
    assert senders and parent not in senders  # children publish, not the parent
    assert {e["pid"] for e in seen.of("worker-online")} == {parent}
    assert types[0] == "worker-online" and types[-1] == "worker-offline"
    [big] = [e for e in seen.of("task-succeeded") if e["uuid"] == grown.id]
    assert big["rss_delta"] >= 30 * 1024 * 1024  # the leak shows up by name
    assert seen.of("worker-offline")[0]["processed"] == 7


def test_enable_events_reaches_running_prefork_children(tmp_path: Path) -> None:
    with project_on("redis", tmp_path, BODY) as project:
        producer = project.producer()
        with Listener(producer) as seen:
            project.start_worker("-n", "pf2@test", concurrency=2)
            seen.wait_for(lambda types: "worker-online" in types)
            assert producer.send_task("pf.add", (1, 1)).get(timeout=20) == 2
            replies = producer.control.enable_events(
                destination=["pf2@test"], reply=True, timeout=5
            )
            assert replies == [{"pf2@test": {"ok": "task events enabled"}}]
            results = [producer.send_task("pf.add", (i, 1)) for i in range(4)]
            assert [r.get(timeout=20) for r in results] == [i + 1 for i in range(4)]
            seen.wait_for(lambda types: types.count("task-succeeded") == 4)
            # A terminating revoke kills the child: the parent reports the task revoked.
            slow = producer.send_task("pf.sleep", (30,))
            seen.wait_for(lambda types: "task-started" in types[types.index("task-succeeded") :])
            wait_until(lambda: slow.id in seen.state.tasks and seen.state.tasks[slow.id].started)
            producer.control.revoke(slow.id, terminate=True)
            seen.wait_for(lambda types: "task-revoked" in types)
    assert {e["uuid"] for e in seen.of("task-succeeded")} == {r.id for r in results}
    [revoked] = seen.of("task-revoked")
    assert revoked["uuid"] == slow.id and revoked["terminated"] is True
    assert seen.state.tasks[slow.id].state == "REVOKED"


def test_a_lost_childs_task_is_reported_failed_once_by_the_parent(tmp_path: Path) -> None:
    with project_on("redis", tmp_path, BODY) as project:
        producer = project.producer()
        with Listener(producer) as seen:
            worker = project.start_worker("-E", "-n", "pf3@test", concurrency=1)
            seen.wait_for(lambda types: "worker-online" in types)
            lost = producer.send_task("pf.dies")
            seen.wait_for(lambda types: "task-failed" in types, timeout=30)
            after = producer.send_task("pf.add", (2, 3))
            assert after.get(timeout=20) == 5  # a new child took over
            again = producer.send_task("pf.dies_requeued")
            assert again.get(timeout=30) == "second run"
            seen.wait_for(lambda types: types.count("task-succeeded") == 2)
    ends = [e for e in seen.events if e.get("uuid") == lost.id]
    assert [e["type"] for e in ends] == ["task-received", "task-started", "task-failed"]
    received, started, failed = ends
    assert received["pid"] == started["pid"] != worker.pid  # the child that died
    assert failed["pid"] == worker.pid  # the parent finished it
    assert failed["exception"].startswith("WorkerLostError('Worker exited prematurely")
    assert failed["hostname"] == "pf3@test"
    # acks_late + reject_on_worker_lost: Celery's task-rejected (requeue), then the next run
    assert [e["type"] for e in seen.events if e.get("uuid") == again.id] == [
        "task-received",
        "task-started",
        "task-rejected",
        "task-received",
        "task-started",
        "task-succeeded",
    ]
    [rejected] = [e for e in seen.of("task-rejected") if e["uuid"] == again.id]
    assert rejected["requeue"] is True and rejected["pid"] == worker.pid
