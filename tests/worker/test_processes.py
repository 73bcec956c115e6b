"""Process-level reliability: real worker subprocesses on a real SQLite file, no mocks."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.processes import Project, pids_of, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """An empty project; tests write their tasks with ``project.write_module``."""
    with Project(tmp_path) as proj:
        yield proj


SLEEPY = """
@app.task(acks_late=True)
def sleepy(seconds):
    mark("sleepy.marker", "start")
    time.sleep(seconds)
    mark("sleepy.done", "done")
    return "slept"


@app.task(acks_late=True, reject_on_worker_lost=False)
def sleepy_no_reject(seconds):
    mark("sleepy.marker", "start")
    time.sleep(seconds)
    return "slept"


@app.task
def add(x, y):
    return x + y
"""


# -- 1. a killed worker's acks_late task runs again ----------------------------------------
@pytest.mark.slow
def test_sigkill_whole_prefork_worker_reruns_acks_late_task_on_new_worker(project: Project) -> None:
    project.write_module(SLEEPY)
    first = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy", (2,))
    wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    first.kill()  # parent and children, no chance to give anything back

    assert project.read_lines("sleepy.done") == []
    second = project.start_worker(name="w2")
    assert result.get(timeout=15) == "slept"
    markers = project.read_lines("sleepy.marker")
    assert len(markers) == 2, second.describe()
    assert len(project.read_lines("sleepy.done")) == 1
    assert pids_of(markers)[1] in second.child_pids()


@pytest.mark.slow
def test_sigkill_child_is_replaced_and_task_runs_again(project: Project) -> None:
    project.write_module(SLEEPY)
    worker = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy", (1,))
    lines = wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    victim = pids_of(lines)[0]
    assert victim in worker.child_pids()
    os.kill(victim, signal.SIGKILL)
    assert result.get(timeout=15) == "slept"
    pids = pids_of(project.read_lines("sleepy.marker"))
    assert len(pids) == 2 and pids[1] != victim
    assert worker.proc.poll() is None
    worker.wait_for(r"will run again: worker process lost")
    assert app.send_task("tasks.add", (2, 2)).get(timeout=10) == 4


@pytest.mark.slow
def test_sigkill_child_without_reject_on_worker_lost_fails_with_worker_lost_error(
    project: Project,
) -> None:
    from celeriac.exceptions import WorkerLostError

    project.write_module(SLEEPY)
    worker = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy_no_reject", (2,))
    lines = wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    os.kill(pids_of(lines)[0], signal.SIGKILL)
    with pytest.raises(WorkerLostError):
        result.get(timeout=10)
    assert result.state == "FAILURE"
    assert app.send_task("tasks.add", (1, 2)).get(timeout=10) == 3  # replaced child works
    time.sleep(1.5)  # longer than the dead-owner recovery interval: no rerun
    assert len(project.read_lines("sleepy.marker")) == 1, worker.describe()


# -- 3. a message that keeps killing its worker is dead-lettered -----------------------------
POISON = """
@app.task
def poison():
    mark("poison.marker")
    os.kill(os.getpid(), signal.SIGKILL)


@app.task
def good(x):
    mark("good.marker", str(x))
    return x
"""


@pytest.mark.slow
def test_task_that_kills_its_worker_is_dead_lettered_after_max_deliveries(project: Project) -> None:
    project.write_module(POISON)
    worker = project.start_worker()
    app = project.producer()
    bad = app.send_task("tasks.poison")
    good = app.send_task("tasks.good", (7,))

    assert good.get(timeout=20) == 7, worker.describe()
    assert len(project.read_lines("poison.marker")) == 5
    letters = app.transport.dead_letters()
    assert [letter.task_id for letter in letters] == [bad.id]
    assert "task_max_deliveries=5" in letters[0].reason
    assert "delivered 5 times" in letters[0].reason
    assert worker.proc.poll() is None
    assert len(worker.child_pids()) == 1
    assert app.send_task("tasks.good", (8,)).get(timeout=10) == 8
