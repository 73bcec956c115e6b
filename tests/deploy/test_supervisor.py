"""supervisord (Debian's package) runs deploy/'s program files: the shop's worker and beat
come up, run tasks, stop cleanly on ``supervisorctl stop`` without losing the task that was
running (a warm shutdown), and a start after a code change runs the new code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.django_suite import ROOT
from helpers.processes import wait_until
from helpers.services import require_executable

pytestmark = pytest.mark.slow

SHOP = ROOT / "examples" / "django_shop"


class Supervisor:
    def __init__(self, root: Path, project: Path, env: dict[str, str]) -> None:
        self.root, self.project, self.env = root, project, env
        self.conf = root / "supervisord.conf"
        self.logs = root / "logs"

    def ctl(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["supervisorctl", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout + done.stderr

    def status(self, program: str) -> str:
        return self.ctl("status", program)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _write_config(root: Path, project: Path) -> Path:
    (root / "logs").mkdir()
    shutil.copy(ROOT / "deploy" / "supervisor" / "celeriac_worker.conf", root)
    shutil.copy(ROOT / "deploy" / "supervisor" / "celeriac_beat.conf", root)
    celeriac = root / "celeriac"
    celeriac.write_text(f'#!/bin/sh\nexec {sys.executable} -m celeriac "$@"\n')
    celeriac.chmod(0o755)
    conf = root / "supervisord.conf"
    conf.write_text(
        f"""[unix_http_server]
file={root}/supervisor.sock

[supervisord]
logfile={root}/supervisord.log
pidfile={root}/supervisord.pid
childlogdir={root}/logs
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{root}/supervisor.sock

[include]
files = {root}/celeriac_*.conf
"""
    )
    return conf


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    require_executable("supervisord")
    project = tmp_path / "shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("*.sqlite3", "celeriac.db*"))
    env = {
        **os.environ,
        "SHOP_DIR": str(project),
        "CELERIAC_BIN": str(tmp_path / "celeriac"),
        "LOG_DIR": str(tmp_path / "logs"),
        "SHOP_DATABASE_URL": f"sqlite:{tmp_path / 'db.sqlite3'}",
        "SHOP_BROKER_URL": f"sqlite:///{tmp_path / 'broker.db'}",
        "DJANGO_SETTINGS_MODULE": "proj.settings",
        "PYTHONPATH": os.pathsep.join(map(str, (project, ROOT / "src", project / "tests"))),
    }
    conf = _write_config(tmp_path, project)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=project, env=env, check=True
    )
    daemon = subprocess.Popen(
        ["supervisord", "-c", str(conf)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    made = Supervisor(tmp_path, project, env)
    try:
        yield made
    finally:
        made.ctl("stop", "all")
        daemon.terminate()
        daemon.wait(60)


def _producer(supervisor: Supervisor, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=supervisor.project,
        env=supervisor.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_worker_and_beat_under_supervisord(supervisor: Supervisor) -> None:
    wait_until(lambda: "ready." in supervisor.log("worker"), timeout=60, message="the worker")
    wait_until(lambda: "leading with" in supervisor.log("beat"), timeout=60, message="beat")
    for program in ("celeriac_worker", "celeriac_beat"):  # RUNNING after startsecs
        wait_until(lambda p=program: "RUNNING" in supervisor.status(p), timeout=30, message=program)
    # beat sends the every-minute entry's small_task on its first tick (a new entry waits
    # a minute); the worker runs what a producer sends, on main_worker
    task_id = _producer(
        supervisor,
        "from shop.tasks import big_task, small_task\n"
        "assert small_task.delay().get(timeout=60) == 'small'\n"
        "print(big_task.delay().id)",
    )
    wait_until(
        lambda: f"{task_id}] received" in supervisor.log("worker"),
        timeout=30,
        message="big_task to start",
    )
    time.sleep(1)
    started = time.monotonic()
    answer = supervisor.ctl("stop", "celeriac_worker")  # returns when the worker has exited
    assert "stopped" in answer, answer
    assert time.monotonic() - started > 3  # it waited for big_task (10 s) to finish
    log = supervisor.log("worker")
    assert f"{task_id}] succeeded" in log and "Warm shutdown" in log
    assert "STOPPED" in supervisor.status("celeriac_worker")
    state = _producer(
        supervisor,
        f"from celeriac.result import AsyncResult\nprint(AsyncResult({task_id!r}).result)",
    )
    assert state == "big"

    assert "stopped" in supervisor.ctl("stop", "celeriac_beat")
    assert "beat: stopped" in supervisor.log("beat")
    assert "STOPPED" in supervisor.status("celeriac_beat")

    # new code: a task that did not exist when the worker first started
    tasks = supervisor.project / "shop" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n\n@shared_task\ndef version():\n    return 2\n")
    assert "started" in supervisor.ctl("start", "celeriac_worker")
    assert (
        _producer(
            supervisor,
            "from proj.celery import app\n"
            "print(app.send_task('shop.tasks.version').get(timeout=60))",
        )
        == "2"
    )
