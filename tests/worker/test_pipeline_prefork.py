"""A prefork child that dies: its task is finished by the parent through the same finisher.

A real ``celeriac worker -P prefork`` runs a tasks module that installs a pipeline
observer (``Worker.observer``, set from ``worker_init``). The observer writes one line
per finished task with the pid that finished it: a task that ends in a child is
finished there with its Job; the task whose child was SIGKILLed is finished by the
parent (``Finisher.finish_lost``) with the child's typed ``RunningTask`` report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from multiprocessing import Pipe
from pathlib import Path

import pytest

from celeriac.exceptions import WorkerLostError
from celeriac.pools.reports import ChildInfo, Drained, Ready, RunningTask, Totals
from celeriac.pools.slots import SlotTable
from helpers.processes import Project, pids_of, project_on, wait_until

pytestmark = pytest.mark.timeout(60)

TASKS = """
from celeriac import signals


class FinishedLog:
    def received(self, job):
        pass

    def started(self, job):
        pass

    def finished(self, job, outcome):
        task_id = job.id if hasattr(job, "tag") else job.call.id
        mark("finished.log", f"{type(job).__name__} {outcome.kind} {task_id}")


@signals.worker_init.connect
def install(sender, **kwargs):
    sender.observer = FinishedLog()


@app.task(acks_late=True, reject_on_worker_lost=False)
def dies():
    mark("dies.marker")
    os.kill(os.getpid(), signal.SIGKILL)


@app.task
def add(x, y):
    return x + y
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with project_on("sqlite", tmp_path) as proj:
        yield proj


def test_a_lost_childs_task_is_finished_by_the_parent_through_the_finisher(
    project: Project,
) -> None:
    project.write_module(TASKS)
    worker = project.start_worker(pool="prefork", concurrency=1)
    app = project.producer()
    assert app.send_task("tasks.add", (1, 2)).get(timeout=10) == 3
    lost = app.send_task("tasks.dies")
    with pytest.raises(WorkerLostError):
        lost.get(timeout=15)
    child = pids_of(project.read_lines("dies.marker"))[0]

    def finished() -> list[str]:
        return [line for line in project.read_lines("finished.log") if lost.id in line]

    (line,) = wait_until(finished, message="the parent to finish the lost task")
    pid, kind, outcome, task_id = line.split()
    assert (kind, outcome, task_id) == ("RunningTask", "LOST", lost.id)
    assert int(pid) == worker.pid != child  # the supervising parent finished it
    ok = [line for line in project.read_lines("finished.log") if "SUCCESS" in line]
    assert ok and ok[0].split()[1] == "Job"  # a task ending in the child: its Job
    assert int(ok[0].split()[0]) != worker.pid
    assert app.send_task("tasks.add", (2, 3)).get(timeout=10) == 5  # a new child runs


# -- typed child reports --------------------------------------------------------------------
def test_a_running_task_record_round_trips_through_the_slot_table() -> None:
    record = RunningTask(
        id="a" * 36,
        name="proj.tasks.add",
        tag="42-7",
        queue="celery",
        time=1_700_000_000.25,
        acks_late=True,
        reject_on_worker_lost=True,
        hard_limit=30.0,
    )
    assert RunningTask.from_json(record.to_json()) == record
    table = SlotTable(4)
    try:
        slot = table.acquire(record)
        other = table.acquire(RunningTask(id="b", name="t", tag="1", queue="q", time=2.0))
        assert table.running() == {
            record.id: record,
            "b": RunningTask(id="b", name="t", tag="1", queue="q", time=2.0),
        }
        table.release(slot)
        table.release(other)
        assert table.running() == {}
    finally:
        table.close()


def test_a_long_task_name_is_cut_to_fit_its_slot() -> None:
    table = SlotTable(1)
    try:
        table.acquire(RunningTask(id="x", name="n" * 1000, tag="t", queue="q", time=0.0))
        (record,) = table.running().values()
        assert record.name == "n" * 64
    finally:
        table.close()


def test_a_record_that_is_not_one_is_refused() -> None:
    for raw in (b"[1, 2]", b'{"id": "x"}', b"not json"):
        with pytest.raises(ValueError):
            RunningTask.from_json(raw)


def test_child_reports_build_the_parents_view_of_a_child() -> None:
    info = ChildInfo()
    info.take(Ready(consumer_id="c-1", pid=os.getpid()))
    info.take(Totals({"t.add": 3}))
    assert (info.consumer_id, info.pid, info.totals, info.drained) == (
        "c-1",
        os.getpid(),
        {"t.add": 3},
        False,
    )
    info.take(Drained())
    assert info.drained


def test_child_reports_cross_a_pipe_unchanged() -> None:
    parent, child = Pipe(duplex=False)
    reports = [Ready("c-2", 123), Totals({"a": 1, "b": 2}), Drained()]
    for report in reports:
        child.send(report)
    assert [parent.recv() for _ in reports] == reports
    parent.close()
    child.close()
