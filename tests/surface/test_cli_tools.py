"""``celeriac shell``, ``list bindings``, ``upgrade settings``, ``logtool`` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.processes import Project

pytestmark = pytest.mark.timeout(90)

BODY = """
@app.task
def add(x, y):
    return x + y


@app.task
def boom():
    raise ValueError("boom")
"""


def test_tools(tmp_path: Path) -> None:
    with Project(tmp_path, BODY, settings={"task_default_queue": "jobs"}) as project:
        shell = project.celeriac(
            "shell", "--python", input="print('sum', add.delay is not None, app.main)\n"
        )
        assert "sum True tasks" in shell.stdout + shell.stderr
        listed = project.celeriac("list", "bindings")
        assert listed.returncode == 0 and "jobs" in listed.stdout.split()

        old = project.path("celeryconfig.py")
        old.write_text("CELERY_TASK_SERIALIZER = 'json'\nBROKER_URL = 'redis://'\nX = 1\n")
        upgraded = project.celeriac("upgrade", "settings", str(old), app=None)
        assert upgraded.returncode == 0, upgraded.stderr
        assert old.read_text() == "task_serializer = 'json'\nbroker_url = 'redis://'\nX = 1\n"
        assert project.path("celeryconfig.py.orig").exists()

        worker = project.start_worker(pool="solo", loglevel="INFO")
        producer = project.producer()
        assert producer.send_task("tasks.add", (1, 2), queue="jobs").get(timeout=20) == 3
        with pytest.raises(ValueError):
            producer.send_task("tasks.boom", queue="jobs").get(timeout=20)
        worker.stop()
        log = str(worker.logfile)
        stats = project.celeriac("logtool", "stats", log, app=None)
        assert "received: 2" in stats.stdout and "tasks.add: 1" in stats.stdout, stats.stdout
        errors = project.celeriac("logtool", "errors", log, app=None)
        assert "tasks.boom" in errors.stdout
        traces = project.celeriac("logtool", "traces", log, app=None)
        assert "ValueError: boom" in traces.stdout
        incomplete = project.celeriac("logtool", "incomplete", log, app=None)
        assert incomplete.stdout.strip() == ""


CUSTOM = """
from celeriac.worker.control import inspect_command


@inspect_command(args=[("name", str)], signature="<name>")
def hello_to(state, name="you", **kwargs):
    return {"ok": f"hello {name} from {state.hostname}"}
"""


def test_custom_inspect_command_and_list(tmp_path: Path) -> None:
    with Project(tmp_path, CUSTOM) as project:
        listed = project.celeriac("inspect", "--list")
        assert "hello_to <name>" in listed.stdout.splitlines()
        assert "ping" in listed.stdout.split()
        worker = project.start_worker(pool="solo", name="cw")
        host = worker.lines(r"ready\.")[0].split("]")[-1].split()[0]
        said = project.celeriac("inspect", "hello_to", "bob", "-t", "5", "-j")
        assert f"hello bob from {host}" in said.stdout, said.stdout + said.stderr
        unknown = project.celeriac("control", "nope")
        assert unknown.returncode == 2 and "unknown control command" in unknown.stderr
        quiet = project.celeriac("--no-color", "--skip-checks", "inspect", "ping", "-t", "5")
        assert quiet.returncode == 0 and host in quiet.stdout
