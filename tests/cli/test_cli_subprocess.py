"""One real ``celeriac`` process per command: the entry point, call, worker, result, purge,
report, and an -A error."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import __version__
from helpers.processes import Project

pytestmark = pytest.mark.timeout(60)

TASKS = """
@app.task
def add(x, y):
    return x + y
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with Project(tmp_path, TASKS) as proj:
        yield proj


def test_console_script_version() -> None:
    script = shutil.which("celeriac")
    assert script is not None, "the celeriac console script is not installed"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{__version__} (celeriac)"


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_call_then_burst_worker_then_result(project: Project, pool: str) -> None:
    sent = project.celeriac("call", "tasks.add", "--args", "[2,2]", "--kwargs", "{}")
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", task_id), sent.stdout

    pending = project.celeriac("result", task_id)
    assert pending.returncode == 0 and pending.stdout.strip() == "PENDING"

    worker = project.celeriac("worker", "--burst", "-P", pool, "-c", "2", "-l", "INFO", timeout=20)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "[tasks]" in worker.stdout and "  . tasks.add" in worker.stdout
    assert f"Task tasks.add[{task_id}] succeeded in" in worker.stderr

    done = project.celeriac("result", task_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"


def test_call_with_countdown_and_queue(project: Project) -> None:
    sent = project.celeriac("call", "tasks.add", "--args", "[1,1]", "--countdown", "60",
                            "--queue", "later")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert project.producer().transport.queue_length("later") == 1


def test_purge(project: Project) -> None:
    app = project.producer()
    for queue in ("celery", "celery", "other"):
        app.send_task("tasks.add", (1, 1), queue=queue)
    done = project.celeriac("purge", "-f")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Purged 2 messages from 1 known task queue."
    other = project.celeriac("purge", "-f", "-Q", "other")
    assert other.stdout.strip() == "Purged 1 message from 1 known task queue."
    assert app.transport.queue_length("celery") == app.transport.queue_length("other") == 0


def test_report(project: Project) -> None:
    done = project.celeriac("report")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"software -> celeriac:{__version__} ")
    assert f"broker -> {project.broker_url}" in done.stdout


def test_missing_app_module_is_one_line_on_stderr(project: Project) -> None:
    done = project.celeriac("worker", app="no_such_tasks_module")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no_such_tasks_module" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
