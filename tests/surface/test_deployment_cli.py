"""Deployment commands against real worker processes: multi, --detach, --autoscale, --purge."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from celeriac.platforms import pid_alive
from helpers.processes import Project, wait_until

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

BODY = """
@app.task
def add(x, y):
    return x + y


@app.task
def nap(seconds):
    time.sleep(seconds)
    return os.getpid()
"""


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def test_multi_start_then_stopwait_leaves_nothing(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        started = project.celeriac(
            "multi", "start", "w1", "w2", "-A", "tasks", "-P", "threads", "-c", "1",
            "-l", "INFO", "--pidfile=%n.pid", "--logfile=%n%I.log", app=None,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        assert "w1@" in started.stdout and "OK" in started.stdout
        pidfiles = [project.path("w1.pid"), project.path("w2.pid")]
        wait_until(lambda: all(p.exists() for p in pidfiles), timeout=20)
        pids = [_pid(p) for p in pidfiles]
        assert all(pid_alive(pid) for pid in pids)
        wait_until(lambda: "ready." in project.path("w1.log").read_text(), timeout=20)
        assert project.producer().send_task("tasks.add", (2, 3)).get(timeout=20) == 5
        names = project.celeriac("multi", "names", "w1", "w2", app=None)
        assert names.stdout.split() == [f"w1@{os.uname().nodename}", f"w2@{os.uname().nodename}"]
        expanded = project.celeriac("multi", "expand", "/run/%n.pid", "w1", app=None)
        assert expanded.stdout.strip() == "/run/w1.pid"
        shown = project.celeriac("multi", "show", "w1", "-A", "tasks", app=None)
        assert " -A tasks worker --detach -n w1@" in shown.stdout

        stopped = project.celeriac(
            "multi", "stopwait", "w1", "w2", "--pidfile=%n.pid", app=None, timeout=60
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not any(pid_alive(pid) for pid in pids)
        assert not any(p.exists() for p in pidfiles)
        again = project.celeriac("multi", "stop", "w1", app=None)
        assert "DOWN" in again.stdout


def test_worker_detach_writes_its_pidfile(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        run = project.celeriac(
            "worker", "-D", "-P", "solo", "-n", "d1@%h", "--pidfile", "%n.pid",
            "--logfile", "%n.log", "-l", "INFO", "--umask", "077",
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr  # the launcher returns at once
        pidfile = project.path("d1.pid")
        wait_until(pidfile.exists, timeout=20)
        pid = _pid(pidfile)
        try:
            assert pid_alive(pid) and pid != os.getpid()
            wait_until(lambda: "ready." in project.path("d1.log").read_text(), timeout=20)
            assert os.getsid(pid) != os.getsid(0)  # a session of its own: no terminal
            assert project.path("d1.log").stat().st_mode & 0o077 == 0  # --umask 077
            assert project.producer().send_task("tasks.add", (1, 1)).get(timeout=20) == 2
        finally:
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), timeout=30)
        assert not pidfile.exists()


def test_beat_detach(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        run = project.celeriac("beat", "--detach", "--pidfile", "beat.pid", "-s", "sched.db")
        assert run.returncode == 0, run.stdout + run.stderr
        pidfile = project.path("beat.pid")
        wait_until(pidfile.exists, timeout=20)
        pid = _pid(pidfile)
        assert pid_alive(pid) and os.getsid(pid) != os.getsid(0)
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), timeout=30)


@pytest.mark.timeout(200)
def test_autoscale_grows_under_load_and_shrinks_when_idle(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        worker = project.start_worker(
            "--autoscale=4,1", pool="prefork", concurrency=1, env={"AUTOSCALE_KEEPALIVE": "1"}
        )
        wait_until(lambda: len(worker.child_pids()) == 1, timeout=20)
        producer = project.producer()
        # Naps long enough that the pool is still busy at 4 processes on a loaded machine.
        results = [producer.send_task("tasks.nap", (5,)) for _ in range(4)]
        wait_until(lambda: len(worker.child_pids()) == 4, timeout=60)
        pids = {r.get(timeout=60) for r in results}
        assert len(pids) >= 3  # the naps ran side by side in the new processes
        wait_until(lambda: len(worker.child_pids()) == 1, timeout=60)
        assert "Scaling up" in worker.log() and "Scaling down" in worker.log()


def test_purge_and_include(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        project.path("extra_tasks.py").write_text(
            "from tasks import app\n\n"
            "@app.task(name='extra.mul')\ndef mul(x, y):\n    return x * y\n"
        )
        producer = project.producer()
        stale = producer.send_task("tasks.add", (1, 1))
        worker = project.start_worker("--purge", "-I", "extra_tasks", pool="solo")
        assert "Purged 1 message" in worker.output()
        assert producer.send_task("extra.mul", (6, 7)).get(timeout=20) == 42
        assert stale.state == "PENDING"
