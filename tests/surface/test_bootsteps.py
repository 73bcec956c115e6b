"""A project's bootsteps (Celery's ``app.steps``) run with a real worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.processes import Project, wait_until

pytestmark = pytest.mark.timeout(90)

BODY = """
from celeriac import bootsteps


class Audit(bootsteps.StartStopStep):
    def __init__(self, worker, **kwargs):
        mark("steps.log", "init " + type(worker).__name__)

    def start(self, worker):
        mark("steps.log", "worker start " + worker.hostname)

    def stop(self, worker):
        mark("steps.log", "worker stop")


class Watch(bootsteps.ConsumerStep):
    def start(self, consumer):
        mark("steps.log", "consumer start")

    def stop(self, consumer):
        mark("steps.log", "consumer stop")


class Off(bootsteps.StartStopStep):
    def include_if(self, worker):
        return False

    def start(self, worker):
        mark("steps.log", "never")


app.steps["worker"].update({Audit, Off})
app.steps["consumer"].add(Watch)


@app.task
def add(x, y):
    return x + y
"""


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_custom_bootsteps_start_and_stop(tmp_path: Path, pool: str) -> None:
    with Project(tmp_path, BODY) as project:
        worker = project.start_worker(pool=pool, concurrency=1)
        assert project.producer().send_task("tasks.add", (1, 2)).get(timeout=20) == 3
        wait_until(lambda: len(project.read_lines("steps.log")) >= 3, timeout=20)
        assert worker.stop() == 0
        lines = [line.split(" ", 1)[1] for line in project.read_lines("steps.log")]
        assert lines[0] == "init Worker" and lines[1].startswith("worker start ")
        assert "consumer start" in lines and "consumer stop" in lines
        assert lines[-1] == "worker stop" and "never" not in lines
        assert lines.index("consumer start") < lines.index("consumer stop")
