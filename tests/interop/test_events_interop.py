"""Events between real Celery 5.7 tools and celeriac, on one Redis: ``celery events --dump``
shows a celeriac worker, celeriac's Receiver and State follow a Celery worker, and real
Flower lists a celeriac worker and its tasks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from events.listener import Listener
from helpers.processes import WorkerProcess
from helpers.services import free_port
from interop.conftest import Interop

pytestmark = pytest.mark.timeout(120)


def start_worker(interop: Interop, impl: str, *args: str, tag: str = "") -> WorkerProcess:
    """``<impl> -A <impl>_tasks worker -E`` on the test's queue, with heartbeats; node name
    ``<tag>@evtest`` (``<impl>1`` by default)."""
    tag = tag or f"{impl}1"
    logfile, output = interop.root / f"{tag}.log", interop.root / f"{tag}.out"
    command = [
        sys.executable, "-m", impl, "-A", f"{impl}_tasks", "worker", "-E",
        "-P", "prefork", "-c", "2", "-Q", interop.queue, "-n", f"{tag}@evtest",
        "--logfile", str(logfile), *args,
    ]  # fmt: skip
    command += ["-l", "INFO"] if impl == "celery" else ["--loglevel", "INFO"]
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=interop.root,
            env=interop.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    worker = WorkerProcess(proc, logfile, output)
    interop.workers.append(worker)
    worker.wait_for(r"ready\.", timeout=30)
    return worker


def spawn(interop: Interop, out: Path, *command: str, env: dict[str, str] | None = None) -> Any:
    with open(out, "wb") as handle:
        proc = subprocess.Popen(
            list(command),
            cwd=interop.root,
            env=interop.env(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    interop.workers.append(WorkerProcess(proc, out, out))  # killed with the workers
    return proc


def test_celery_events_dump_shows_a_celeriac_worker(interop: Interop) -> None:
    out = interop.root / "dump.out"
    spawn(interop, out, sys.executable, "-m", "celery", "-A", "celery_tasks", "events", "--dump")
    interop.wait(lambda: b"starting capture" in out.read_bytes(), what="celery events started")
    time.sleep(1.0)  # its PSUBSCRIBE
    worker = start_worker(interop, "celeriac")
    tasks = interop.tasks("celeriac")
    result = tasks.add.delay(20, 22)
    assert result.get(timeout=20) == 42
    worker.stop()
    interop.wait(
        lambda: b"celeriac1@evtest" in out.read_bytes() and b"shutdown" in out.read_bytes(),
        what="worker-offline in the dump",
    )
    lines = [line for line in out.read_text().splitlines() if "celeriac1@evtest" in line]
    text = "\n".join(lines) + "\n" + worker.describe()  # the log, should something be missing
    assert lines[0].split("] ", 1)[1].startswith("started: ")
    assert "sw_ident=py-celeriac" in lines[0]
    assert f"task received: tasks.add({result.id}) args=(20, 22) kwargs={{}}" in text
    assert f"task succeeded: tasks.add({result.id}) args=(20, 22) kwargs={{}}" in text
    assert "result=42" in text and "runtime=" in text
    assert lines[-1].split("] ", 1)[1].startswith("shutdown: ")


def test_celeriac_receiver_and_state_follow_a_celery_worker(interop: Interop) -> None:
    app = interop.tasks("celeriac").app
    with Listener(app, wakeup=True) as seen:
        start_worker(interop, "celery")
        seen.wait_for(lambda types: "worker-online" in types, timeout=30)
        celery_side = interop.tasks("celery")
        good = celery_side.add.delay(1, 2)
        bad = celery_side.fail.delay("nope")
        assert good.get(timeout=20) == 3
        with pytest.raises(Exception, match="nope"):
            bad.get(timeout=20)
        seen.wait_for(lambda t: "task-succeeded" in t and "task-failed" in t, timeout=20)
        seen.wait_for(lambda t: "worker-heartbeat" in t, timeout=10)
    state = seen.state
    worker = state.workers["celery1@evtest"]
    assert worker.alive and worker.sw_ident == "py-celery" and worker.freq == 2.0
    task = state.tasks[good.id]
    assert task.state == "SUCCESS" and task.name == "tasks.add" and task.result == "3"
    assert task.args == "(1, 2)" and task.runtime is not None
    assert task.worker is worker
    failed = state.tasks[bad.id]
    assert failed.state == "FAILURE" and "ValueError('nope')" in str(failed.exception)
    assert [uuid for uuid, _ in state.tasks_by_time()][:2] == [bad.id, good.id] or {
        bad.id,
        good.id,
    } == {uuid for uuid, _ in state.tasks_by_time(limit=2)}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_flower_lists_a_celeriac_worker_and_its_tasks(interop: Interop) -> None:
    if not _has_flower():
        pytest.skip("flower is not installed (pip install flower: a test dependency)")
    port = free_port()
    out = interop.root / "flower.out"
    spawn(
        interop,
        out,
        *(sys.executable, "-m", "celery", "-A", "celery_tasks", "flower"),
        *(f"--port={port}", "--address=127.0.0.1"),
        env={"FLOWER_UNAUTHENTICATED_API": "true"},
    )
    base = f"http://127.0.0.1:{port}"
    interop.wait(lambda: _up(base), timeout=30, what=f"flower up:\n{out.read_text()}")
    start_worker(interop, "celeriac")
    tasks = interop.tasks("celeriac")
    ok = tasks.add.delay(2, 2)
    bad = tasks.fail.delay("boom")
    assert ok.get(timeout=20) == 4
    with pytest.raises(ValueError):
        bad.get(timeout=20)

    def tasks_seen() -> dict[str, Any] | None:
        found = _get(f"{base}/api/tasks")
        # Each task's events reach Flower in their own batches: wait for both ends.
        done = {ok.id: "SUCCESS", bad.id: "FAILURE"}
        if all(found.get(i, {}).get("state") == state for i, state in done.items()):
            return dict(found)
        return None

    found = interop.wait(tasks_seen, timeout=30, what=f"tasks in flower:\n{out.read_text()}")
    assert found[ok.id]["name"] == "tasks.add"
    assert found[ok.id]["worker"] == "celeriac1@evtest"
    assert found[ok.id]["result"] == "4"
    assert found[bad.id]["state"] == "FAILURE"
    info = _get(f"{base}/api/task/info/{ok.id}")
    assert info["state"] == "SUCCESS" and info["args"] == "(2, 2)" and info["runtime"] >= 0
    assert info["received"] and info["started"] and info["succeeded"]
    assert "ValueError('boom')" in _get(f"{base}/api/task/info/{bad.id}")["exception"]

    def worker_seen() -> dict[str, Any] | None:
        info = _get(f"{base}/api/workers?refresh=true").get("celeriac1@evtest")
        # prefork children report their counts to the parent every second
        return info if info and info["stats"]["total"].get("tasks.add") else None

    workers = interop.wait(worker_seen, timeout=30, what="the worker in flower's /api/workers")
    assert workers["stats"]["total"]["tasks.add"] == 1
    assert any(q["name"] == interop.queue for q in workers["active_queues"])
    assert "tasks.add" in workers["registered"]
    dashboard = _get(f"{base}/api/workers?status=true")
    assert dashboard.get("celeriac1@evtest") is True


def _has_flower() -> bool:
    try:
        import flower  # noqa: F401
    except ImportError:
        return False
    return True


def _up(base: str) -> bool:
    try:
        _get(f"{base}/api/workers")
    except (OSError, ValueError):
        return False
    return True
