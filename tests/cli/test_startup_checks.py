"""Start-up checks: a real ``celeriac worker`` warns once, in one line, about what will go wrong.

Each worker runs ``--burst`` (it exits once its queues are empty) with its log on stderr,
so a test sees exactly what a user would see at start-up. A healthy worker logs no
warning at all. The in-process tests at the end pin the checks' edges.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.config.queues import declared_queues
from celeriac.worker.checks import PROBE_TIMEOUT, startup_warnings
from helpers.processes import Project

pytestmark = pytest.mark.timeout(60)

TASK = """
@app.task
def add(x, y):
    return x + y
"""

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def warnings_of(
    project: Project, *args: str, backend: str | None = None, pool: str = "solo"
) -> list[str]:
    """Run a burst worker with ``args``; return the WARNING lines it logged (it must exit 0)."""
    options = ["--result-backend", backend] if backend else []
    command = [*options, "worker", "--burst", "-P", pool, "-c", "2", *args]
    done = project.celeriac(*command, timeout=45)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stderr.splitlines() if "WARNING/" in line]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with Project(tmp_path, TASK) as proj:
        yield proj


def make(tmp_path: Path, body: str = TASK, **settings: Any) -> Project:
    return Project(tmp_path, body, settings=settings)


def test_a_healthy_worker_warns_about_nothing(project: Project) -> None:
    assert warnings_of(project) == []


# -- -Q names queues Celery would not consume ------------------------------------------
def test_q_naming_only_undeclared_queues(tmp_path: Path) -> None:
    with make(tmp_path, task_queues=["celery", "hi"], task_create_missing_queues=False) as p:
        [line] = warnings_of(p, "-Q", "nope,other")  # one line, not more
    assert line.endswith(
        "-Q names no queue declared in task_queues (celery, hi): nope, other; "
        "task_create_missing_queues is off, so Celery would refuse to start, but this "
        "worker consumes them anyway (declare them in task_queues to silence this)"
    ), line


def test_q_naming_some_undeclared_queues(tmp_path: Path) -> None:
    with make(tmp_path, task_create_missing_queues=False) as p:  # declared: the default
        [line] = warnings_of(p, "-Q", "celery,nope")
    assert "-Q names queues not declared in task_queues (celery): nope;" in line


def test_undeclared_queues_are_fine_when_they_may_be_created(tmp_path: Path) -> None:
    with make(tmp_path, task_queues=["celery"]) as p:  # task_create_missing_queues: on
        assert warnings_of(p, "-Q", "nope") == []


# -- an app with no tasks ------------------------------------------------------------------
def test_an_app_without_tasks(tmp_path: Path) -> None:
    with make(tmp_path, body="") as p:
        [line] = warnings_of(p)
    assert "app 'tasks' has no tasks registered: every task this worker receives" in line


# -- a result backend that cannot be reached ----------------------------------------------
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_an_unreachable_result_backend(project: Project, pool: str) -> None:
    [line] = warnings_of(project, backend=UNREACHABLE, pool=pool)  # parent only
    assert f"the result backend {UNREACHABLE} cannot be reached (" in line
    assert "Connection refused" in line
    assert line.endswith("tasks will run but their results cannot be stored; their messages "
                         "stay unacked and the tasks run again once it is back")  # fmt: skip


def test_the_password_of_an_unreachable_backend_is_masked(project: Project) -> None:
    [line] = warnings_of(project, backend="redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in line and "redis://:**@127.0.0.1:1/0" in line


def test_a_reachable_redis_backend_is_quiet(project: Project) -> None:
    _require_redis()
    assert warnings_of(project, backend="redis://127.0.0.1:6379/15") == []


def test_all_three_at_once_are_three_lines(tmp_path: Path) -> None:
    with make(tmp_path, body="", task_create_missing_queues=False) as p:
        lines = warnings_of(p, "-Q", "nope", backend=UNREACHABLE)
    assert len(lines) == 3, lines
    assert ["-Q names", "has no tasks", "cannot be reached"] == [
        next(k for k in ("-Q names", "has no tasks", "cannot be reached") if k in line)
        for line in lines
    ]


# -- in-process: the checks' edges -------------------------------------------------------
def test_declared_queues_reads_every_shape_of_task_queues() -> None:
    app = Celery("q", broker="memory://")
    assert declared_queues(app.conf) == ["celery"]
    app.conf.task_queues = {"a": {}, "b": {}}
    assert declared_queues(app.conf) == ["a", "b"]
    app.conf.task_queues = [{"name": "c"}, "d"]
    assert declared_queues(app.conf) == ["c", "d"]
    app.close()


def test_a_disabled_or_memory_backend_is_not_probed() -> None:
    for backend in ("disabled", "memory://"):
        app = Celery("b", broker="memory://", backend=backend)
        app.task(name="t")(lambda: None)
        assert startup_warnings(app, ["celery"]) == []
        app.close()


def test_an_unopenable_sqlite_backend_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'r.db'}"
    app = Celery("s", broker="memory://", backend=url)
    app.task(name="t")(lambda: None)
    [line] = startup_warnings(app, ["celery"])
    assert f"the result backend {url} cannot be reached (" in line
    app.close()


def test_the_probe_is_bounded() -> None:
    assert 0 < PROBE_TIMEOUT <= 5


def _require_redis() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
        pytest.skip("Redis at 127.0.0.1:6379 is not reachable")


# -- a broker that cannot be reached, with no retrying at start-up ------------------------
@pytest.mark.parametrize("broker", [UNREACHABLE, "amqp://guest:guest@127.0.0.1:1//"])
def test_no_retry_on_startup_stops_the_worker(tmp_path: Path, broker: str) -> None:
    with make(tmp_path, broker_connection_retry_on_startup=False) as p:
        done = p.celeriac("-b", broker, "worker", "-P", "solo", timeout=45)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "Retrying to establish a connection to the message broker after a connection loss "
        "has been disabled (app.conf.broker_connection_retry_on_startup=False). "
        "Shutting down..."
    ) in done.stderr
