"""Remote control of prefork worker subprocesses on SQLite: terminate, revoke, statedb, the CLI."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import states
from celeriac.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from helpers.processes import Project, pids_of, wait_until

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

TASKS = """
@app.task(acks_late=True)
def sleepy(seconds):
    mark("sleepy.started")
    time.sleep(seconds)
    mark("sleepy.done")
    return "slept"


@app.task
def add(x, y):
    mark("add.ran", f"{x} {y}")
    return x + y
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with Project(tmp_path, TASKS) as proj:
        yield proj


def test_terminate_kills_the_child_running_the_task(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    worker = project.start_worker("-n", name, concurrency=2)
    app = project.producer()
    wait_until(lambda: len(worker.child_pids()) == 2, message="two children")
    children = set(worker.child_pids())
    result = app.send_task("tasks.sleepy", (60,))
    wait_until(lambda: project.read_lines("sleepy.started"), message="the task to start")
    [running_in] = pids_of(project.read_lines("sleepy.started"))
    active = app.control.inspect(destination=[name], timeout=5).active()
    assert active is not None
    assert [(i["id"], i["worker_pid"]) for i in active[name]] == [(result.id, running_in)]

    reply = app.control.revoke(result.id, terminate=True, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"terminate: {result.id}"}}]
    wait_until(lambda: result.state == states.REVOKED, timeout=15, message="REVOKED stored")
    assert str(result.result) == "terminated"
    # The child was replaced; the other one kept running; the task never ran again.
    wait_until(
        lambda: len(worker.child_pids()) == 2 and running_in not in worker.child_pids(),
        message="the killed child to be replaced",
    )
    assert set(worker.child_pids()) & children == children - {running_in}
    assert app.send_task("tasks.add", (2, 3)).get(timeout=15) == 5
    time.sleep(0.5)
    assert len(project.read_lines("sleepy.started")) == 1
    assert project.read_lines("sleepy.done") == []
    assert app.control.inspect(destination=[name], timeout=5).revoked() == {name: [result.id]}


def test_revoked_before_start_never_runs_in_a_child(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    project.start_worker("-n", name, concurrency=1)
    app = project.producer()
    busy = app.send_task("tasks.sleepy", (1.5,))
    wait_until(lambda: project.read_lines("sleepy.started"), message="the busy task to start")
    waiting = app.send_task("tasks.add", (1, 1))
    reply = app.control.revoke(waiting.id, destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": f"tasks {{'{waiting.id}'}} flagged as revoked"}}]
    assert busy.get(timeout=15) == "slept"
    wait_until(lambda: waiting.state == states.REVOKED, message="REVOKED stored")
    later = app.send_task("tasks.add", (2, 2))
    assert later.get(timeout=15) == 4
    assert project.read_lines("add.ran") and all(
        line.split()[1:] == ["2", "2"] for line in project.read_lines("add.ran")
    )

    def totals() -> dict[str, int]:
        stats = app.control.inspect(destination=[name], timeout=5).stats() or {}
        return dict(stats.get(name, {}).get("total", {}))

    # The children report what they started; the revoked task is not counted.
    wait_until(lambda: totals() == {"tasks.sleepy": 1, "tasks.add": 1}, message="stats total")


def test_statedb_survives_a_worker_restart(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    statedb = str(project.path("worker.state"))
    first = project.start_worker("-n", name, "--statedb", statedb)
    app = project.producer()
    revoked_id = str(uuid.uuid4())
    app.control.revoke(revoked_id, destination=[name], reply=True, timeout=5)
    assert first.stop() == 0
    project.start_worker("-n", name, "--statedb", statedb, name="w2")
    assert app.control.inspect(destination=[name], timeout=5).revoked() == {name: [revoked_id]}
    result = app.send_task("tasks.add", (3, 3), task_id=revoked_id)
    wait_until(lambda: result.state == states.REVOKED, message="the restarted worker to discard")
    assert app.send_task("tasks.add", (4, 4)).get(timeout=15) == 8
    assert [line.split()[1:] for line in project.read_lines("add.ran")] == [["4", "4"]]


def test_cli_inspect_control_and_status(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    worker = project.start_worker("-n", name)
    ping = project.celeriac("inspect", "ping", "-d", name, "--json")
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout) == {name: {"ok": "pong"}}
    human = project.celeriac("inspect", "registered", "--destination", name, "-t", "2")
    assert human.returncode == 0, human.stderr
    assert f"->  {name}: OK" in human.stdout and "* tasks.add" in human.stdout
    assert "1 node online." in human.stdout
    stats = project.celeriac("inspect", "stats", "-d", name, "-j")
    assert set(json.loads(stats.stdout)[name]) >= {"total", "broker", "pool", "pid", "rusage"}
    status = project.celeriac("status", "-d", name)
    assert status.returncode == 0 and f"->  {name}: OK" in status.stdout
    task_id = str(uuid.uuid4())
    revoke = project.celeriac("control", "revoke", task_id, "-d", name, "--json")
    assert json.loads(revoke.stdout) == {name: {"ok": f"tasks {{'{task_id}'}} flagged as revoked"}}
    nobody = project.celeriac("inspect", "ping", "-d", "nobody@nowhere", "-t", "0.3")
    assert nobody.returncode == 69
    assert "No nodes replied" in nobody.stderr
    shutdown = project.celeriac("control", "shutdown", "-d", name)
    assert shutdown.returncode == 0, shutdown.stderr
    assert worker.wait(timeout=20) == 0


def test_time_limit_reaches_the_children(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    project.start_worker("-n", name, concurrency=1)
    app = project.producer()
    reply = app.control.time_limit(
        "tasks.sleepy", soft=0.5, hard=1, destination=[name], reply=True, timeout=5
    )
    assert reply == [{name: {"ok": "time limits set successfully"}}]
    result = app.send_task("tasks.sleepy", (5,))
    wait_until(lambda: result.state == states.FAILURE, timeout=20, message="the limit to hit")
    assert isinstance(result.result, SoftTimeLimitExceeded | TimeLimitExceeded)
    assert project.read_lines("sleepy.done") == []


def test_rate_limit_command_reaches_every_child(project: Project) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}@test"
    project.start_worker("-n", name, concurrency=2)
    app = project.producer()
    reply = app.control.rate_limit("tasks.add", "5/s", destination=[name], reply=True, timeout=5)
    assert reply == [{name: {"ok": "new rate limit set successfully"}}]
    started = time.monotonic()
    results = [app.send_task("tasks.add", (n, n)) for n in range(10)]
    assert [r.get(timeout=30) for r in results] == [2 * n for n in range(10)]
    # 10 calls at 5/s shared by two children: the last starts no sooner than ~1.8 s in
    assert time.monotonic() - started >= 1.6
