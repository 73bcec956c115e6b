"""app.control against in-process workers (threads/solo) on memory, SQLite and Redis."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import pytest

from celeriac import Celery, states
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)

#: task ids each test's tasks ran (in this process: the workers are threads)
RUNS: list[str] = []
RELEASE = threading.Event()


def node() -> str:
    return f"w{uuid.uuid4().hex[:8]}@ctl"


def define(app: Celery) -> dict[str, object]:
    @app.task(name="ctl.add", bind=True)
    def add(self: object, x: int, y: int) -> int:
        RUNS.append(self.request.id)  # type: ignore[attr-defined]
        return x + y

    @app.task(name="ctl.block", bind=True)
    def block(self: object, seconds: float) -> str:
        RUNS.append(self.request.id)  # type: ignore[attr-defined]
        RELEASE.wait(seconds)
        return "done"

    @app.task(name="ctl.nap", bind=True)
    async def nap(self: object, seconds: float) -> str:
        RUNS.append(self.request.id)  # type: ignore[attr-defined]
        await asyncio.sleep(seconds)
        return "woke"

    return {"add": add, "block": block, "nap": nap}


def test_ping_inspect_and_errors(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    define(app)
    app.conf.enable_utc = True  # its default, but set: `inspect conf` lists it, as Celery's
    name = node()
    worker(app, hostname=name)
    control = app.control

    assert control.ping(destination=[name], timeout=5) == [{name: {"ok": "pong"}}]
    assert asyncio.run(control.aping(destination=[name], timeout=5)) == [{name: {"ok": "pong"}}]
    inspect = control.inspect(destination=[name], timeout=5)
    assert inspect.ping() == {name: {"ok": "pong"}}
    # shared_task()s that other test modules defined in this process join every app
    registered = inspect.registered()
    assert list(registered) == [name]
    assert [t for t in registered[name] if t.startswith("ctl.")] == [
        "ctl.add",
        "ctl.block",
        "ctl.nap",
    ]
    stats = inspect.stats()
    assert stats is not None
    mine = stats[name]
    for key in ("total", "pid", "clock", "uptime", "pool", "broker", "prefetch_count", "rusage"):
        assert key in mine
    assert isinstance(mine["clock"], str)
    assert mine["pool"]["max-concurrency"] == 2
    queues = inspect.active_queues()
    assert queues is not None and [q["name"] for q in queues[name]] == ["celery"]
    assert queues[name][0]["exchange"]["type"] == "direct"
    assert inspect.revoked() == {name: []}
    assert inspect.active() == {name: []}
    assert inspect.reserved() == {name: []}
    assert inspect.scheduled() == {name: []}
    report = inspect.report()
    assert report is not None and "celeriac" in report[name]["ok"]
    conf = inspect.conf()[name]  # type: ignore[index]
    assert conf["enable_utc"] is True and conf["deprecated_settings"] == []
    # the worker lists every task module in include, as Celery's worker does
    assert any(str(m).endswith("test_control_inprocess") for m in conf["include"])
    unknown = control.broadcast("no_such_command", reply=True, destination=[name], timeout=5)
    assert unknown == [{name: {"error": "KeyError('no_such_command')"}}]
    # Another node's destination or a non-matching pattern: nobody answers.
    assert control.ping(destination=["nobody@nowhere"], timeout=0.3) == []
    assert control.broadcast("ping", reply=True, pattern="x*", matcher="glob", timeout=0.3) == []
    globbed = control.broadcast("ping", reply=True, pattern="w*@ctl", matcher="glob", timeout=0.5)
    assert {name: {"ok": "pong"}} in (globbed or [])


def test_revoke_before_start_never_runs(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, pool="solo", concurrency=1, hostname=name)
    RELEASE.clear()
    busy = tasks["block"].delay(20)  # type: ignore[attr-defined]
    wait_until(lambda: busy.id in RUNS, message="the blocking task to start")
    waiting = tasks["add"].delay(1, 2)  # type: ignore[attr-defined]
    wait_until(
        lambda: (app.control.inspect(destination=[name], timeout=2).reserved() or {}).get(name),
        message="the second task to be reserved",
    )
    reply = app.control.revoke(waiting.id, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"tasks {{'{waiting.id}'}} flagged as revoked"}}]
    assert waiting.get(timeout=10, propagate=False) is not None
    assert waiting.state == states.REVOKED
    RELEASE.set()
    assert busy.get(timeout=10) == "done"
    # A message for a revoked id that arrives later is discarded too.
    later_id = str(uuid.uuid4())
    app.control.revoke(later_id, destination=[name], reply=True, timeout=5)
    later = tasks["add"].apply_async((3, 4), task_id=later_id)  # type: ignore[attr-defined]
    wait_until(lambda: later.state == states.REVOKED, message="the late message to be revoked")
    time.sleep(0.2)
    assert waiting.id not in RUNS and later_id not in RUNS
    assert set(app.control.inspect(destination=[name], timeout=2).revoked()[name]) == {  # type: ignore[index]
        waiting.id,
        later_id,
    }


def test_revoke_countdown_task(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, hostname=name)
    result = tasks["add"].apply_async((1, 1), countdown=1.5)  # type: ignore[attr-defined]
    app.control.revoke(result.id, destination=[name], reply=True, timeout=5)
    # Celery 5.7: a revoke stores REVOKED at once for a task that has not started.
    assert result.state == states.REVOKED
    time.sleep(2.5)
    assert result.state == states.REVOKED
    assert result.id not in RUNS


def test_terminate_async_task_cancels_it(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, hostname=name)
    result = tasks["nap"].delay(30)  # type: ignore[attr-defined]
    wait_until(lambda: result.id in RUNS, message="the async task to start")
    active = app.control.inspect(destination=[name], timeout=5).active()
    assert active is not None and [info["id"] for info in active[name]] == [result.id]
    assert active[name][0]["time_start"] is not None
    started = time.monotonic()
    reply = app.control.terminate(result.id, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"terminate: {result.id}"}}]
    wait_until(lambda: result.state == states.REVOKED, message="the task to be revoked")
    assert time.monotonic() - started < 10
    assert str(result.result) == "terminated"


def test_threads_cannot_terminate_a_running_sync_task(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, hostname=name)
    RELEASE.clear()
    result = tasks["block"].delay(1.0)  # type: ignore[attr-defined]
    wait_until(lambda: result.id in RUNS, message="the sync task to start")
    reply = app.control.revoke(result.id, terminate=True, destination=[name], reply=True, timeout=5)
    assert reply is not None
    text = reply[0][name]["ok"]
    assert "not terminable" in text and result.id in text
    assert result.get(timeout=10) == "done"  # it ran to completion


def test_statedb_keeps_revokes_across_restarts(
    make_app: AppFactory, worker: WorkerFactory, tmp_path: Path
) -> None:
    app = make_app()
    tasks = define(app)
    statedb = str(tmp_path / "worker.state")
    first, second = node(), node()
    revoked_id = str(uuid.uuid4())
    one = worker(app, hostname=first, statedb=statedb)
    app.control.revoke(revoked_id, destination=[first], reply=True, timeout=5)
    one.stop()
    worker(app, hostname=second, statedb=statedb)
    assert app.control.inspect(destination=[second], timeout=5).revoked() == {second: [revoked_id]}
    result = tasks["add"].apply_async((5, 5), task_id=revoked_id)  # type: ignore[attr-defined]
    wait_until(lambda: result.state == states.REVOKED, message="the task to be discarded")
    assert revoked_id not in RUNS


def test_a_worker_without_statedb_forgets_revokes(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    define(app)
    first, second = node(), node()
    revoked_id = str(uuid.uuid4())
    one = worker(app, hostname=first)
    app.control.revoke(revoked_id, destination=[first], reply=True, timeout=5)
    one.stop()
    worker(app, hostname=second)
    assert app.control.inspect(destination=[second], timeout=5).revoked() == {second: []}


def test_time_limit_and_rate_limit_commands(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, hostname=name)
    reply = app.control.time_limit("ctl.add", soft=10, hard=20, destination=[name], reply=True)
    assert reply == [{name: {"ok": "time limits set successfully"}}]
    assert tasks["add"].time_limit == 20 and tasks["add"].soft_time_limit == 10  # type: ignore[attr-defined]
    unknown = app.control.time_limit("nope", soft=1, destination=[name], reply=True)
    assert unknown == [{name: {"error": "unknown task"}}]
    rate = app.control.rate_limit("ctl.add", "10/m", destination=[name], reply=True)
    assert rate == [{name: {"ok": "new rate limit set successfully"}}]


def test_shutdown_stops_the_worker_without_a_reply(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()
    define(app)
    name = node()
    controller = worker(app, hostname=name)
    assert app.control.broadcast("shutdown", destination=[name], reply=True, timeout=1) == []
    controller.thread.join(timeout=10)
    assert not controller.thread.is_alive()


def test_purge_deletes_waiting_messages(make_app: AppFactory) -> None:
    app = make_app()
    tasks = define(app)
    for index in range(3):
        tasks["add"].delay(index, index)  # type: ignore[attr-defined]
    assert app.control.purge() == 3
    assert app.control.purge() == 0


def test_request_info_has_celerys_keys(make_app: AppFactory, worker: WorkerFactory) -> None:
    # Celery 5.7's request info: no stamp keys for an unstamped task
    app = make_app()
    tasks = define(app)
    name = node()
    worker(app, hostname=name)
    RELEASE.clear()
    result = tasks["block"].delay(10.0)  # type: ignore[attr-defined]
    wait_until(lambda: result.id in RUNS, message="the task to start")
    active = app.control.inspect(destination=[name], timeout=5).active()
    RELEASE.set()
    assert active is not None
    [info] = active[name]
    assert set(info) == {
        "id", "name", "args", "kwargs", "type", "hostname", "time_start", "acknowledged",
        "delivery_info", "worker_pid",
    }  # fmt: skip
    assert result.get(timeout=10) == "done"


def test_hello_takes_the_ids_another_worker_revoked(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    # mingle's hello, as Celery 5.7: the ids are taken (stamped here), the reply lists ours
    app = make_app()
    define(app)
    name = node()
    worker(app, hostname=name)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    ahead = time.monotonic() + 10**6  # another host's stamps: not comparable with ours
    inspect = app.control.inspect(destination=[name], timeout=5)
    reply = inspect.hello("other@host", revoked={i: [ahead, n, i] for n, i in enumerate(ids)})
    assert reply is not None and set(ids) <= set(reply[name]["revoked"])
    assert set(ids) <= set((inspect.revoked() or {})[name])
    assert (inspect.hello(name) or {}).get(name) is None  # its own hello: nothing to sync
