"""Remote control across implementations on Redis: Celery drives celeriac workers and back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid

import pytest

from helpers.processes import wait_until

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]


def node_of(interop: Interop, impl: str, index: int) -> str:
    """The node name ``Interop.start_worker`` gave its ``index``-th worker (1-based)."""
    return f"{impl}{index}-{interop.queue}@{socket.gethostname()}"


def test_celery_control_drives_a_celeriac_worker(interop: Interop) -> None:
    interop.start_worker("celeriac", "prefork", 2)
    name = node_of(interop, "celeriac", 1)
    celery_app = interop.tasks("celery").app
    inspect = celery_app.control.inspect(destination=[name], timeout=5)

    assert inspect.ping() == {name: {"ok": "pong"}}
    assert celery_app.control.ping(timeout=1.0) == [{name: {"ok": "pong"}}]
    registered = inspect.registered()
    assert registered is not None and "tasks.add" in registered[name]
    stats = inspect.stats()
    assert stats is not None and stats[name]["pool"]["max-concurrency"] == 2
    assert {"total", "broker", "rusage", "prefetch_count", "pid"} <= set(stats[name])
    assert inspect.active_queues()[name][0]["name"] == interop.queue

    # Revoke (a cast, as Celery sends it by default), then send that id: never runs.
    revoked_id = str(uuid.uuid4())
    celery_app.control.revoke(revoked_id)
    interop.wait(
        lambda: revoked_id in (inspect.revoked() or {}).get(name, []), what="the revoke to land"
    )
    result = interop.tasks("celery").record.apply_async((1,), task_id=revoked_id)
    interop.wait(lambda: result.state == "REVOKED", what="the message to be discarded")
    assert not interop.client.hexists(interop.key("interop.runs"), revoked_id)

    # Terminate a task running in a celeriac prefork child.
    running = interop.tasks("celery").hang.delay(60)
    interop.wait(
        lambda: interop.client.hget(interop.key("interop.hang"), running.id), what="hang to start"
    )
    reply = celery_app.control.revoke(running.id, terminate=True, reply=True, timeout=5)
    assert reply == [{name: {"ok": f"terminate: {running.id}"}}]
    interop.wait(lambda: running.state == "REVOKED", what="the terminated task's state")
    assert int(interop.client.hget(interop.key("interop.hang"), running.id)) == 1


def test_celery_cli_inspect_ping_against_celeriac(interop: Interop) -> None:
    interop.start_worker("celeriac", "threads", 2)
    name = node_of(interop, "celeriac", 1)
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "inspect", "ping", "-d", name],
        cwd=interop.root,
        env=interop.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"->  {name}: OK" in proc.stdout and "pong" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "inspect", "stats", "-j"],
        cwd=interop.root,
        env=interop.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert name in json.loads(proc.stdout)


def test_celeriac_control_drives_a_celery_worker(interop: Interop) -> None:
    interop.start_worker("celery", "prefork", 2)
    name = node_of(interop, "celery", 1)
    app = interop.tasks("celeriac").app

    # A Celery worker logs "ready" a moment before its mailbox consumes: under a loaded run
    # the first ping can go unanswered, as with ``celery inspect ping`` itself.
    pong = wait_until(
        lambda: app.control.ping(destination=[name], timeout=2),
        timeout=30,
        message=f"a pong from {name}",
    )
    assert pong == [{name: {"ok": "pong"}}]
    inspect = app.control.inspect(destination=[name], timeout=5)
    registered = inspect.registered()
    assert registered is not None and "tasks.add" in registered[name]
    stats = inspect.stats()
    assert stats is not None and stats[name]["pool"]["max-concurrency"] == 2
    unknown = app.control.broadcast("no_such_command", destination=[name], reply=True, timeout=5)
    assert unknown == [{name: {"error": "KeyError('no_such_command')"}}]

    revoked_id = str(uuid.uuid4())
    reply = app.control.revoke(revoked_id, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"tasks {{'{revoked_id}'}} flagged as revoked"}}]
    assert inspect.revoked() == {name: [revoked_id]}
    result = interop.tasks("celeriac").record.apply_async((1,), task_id=revoked_id)
    interop.wait(lambda: result.state == "REVOKED", what="Celery to discard the message")
    assert not interop.client.hexists(interop.key("interop.runs"), revoked_id)

    # Commands celeriac workers lack but Celery workers have, sent as Celery sends them.
    grow = app.control.pool_grow(1, destination=[name], reply=True, timeout=5)
    assert grow == [{name: {"ok": "pool will grow"}}]
    extra = f"extra-{interop.queue}"
    added = app.control.add_consumer(extra, destination=[name], reply=True, timeout=5)
    assert added == [{name: {"ok": f"add consumer {extra}"}}]
    cancelled = app.control.cancel_consumer(extra, destination=[name], reply=True, timeout=5)
    assert cancelled == [{name: {"ok": f"no longer consuming from {extra}"}}]

    running = interop.tasks("celeriac").hang.delay(60)
    interop.wait(
        lambda: interop.client.hget(interop.key("interop.hang"), running.id), what="hang to start"
    )
    reply = app.control.terminate(running.id, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"terminate: {running.id}"}}]
    interop.wait(lambda: running.state == "REVOKED", what="Celery to terminate the task")
