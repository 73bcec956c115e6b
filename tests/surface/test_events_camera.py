"""``celeriac events -c Camera`` (Celery's snapshot cameras) and ``celeriac.events.dumper``."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest

from celeriac.events.dumper import Dumper
from celeriac.events.snapshot import Polaroid
from celeriac.events.state import State
from helpers.processes import Project, wait_until

pytestmark = pytest.mark.timeout(90)


class Counting(Polaroid):
    shots: list[int]

    def on_shutter(self, state: State) -> None:
        self.shots.append(len(state.tasks))


def test_polaroid_shoots_every_freq_within_maxrate() -> None:
    state = State()
    state.event({"type": "task-received", "uuid": "t1", "name": "a", "hostname": "w",
                 "timestamp": time.time(), "clock": 1})  # fmt: skip
    cam = Counting(state, freq=0.05, maxrate="2/s", cleanup_freq=0.1)
    cam.shots = []
    with cam:
        time.sleep(0.8)
    assert 1 <= len(cam.shots) <= 3 and cam.shots[0] == 1  # maxrate: about 2 a second
    cam.cleanup()


def test_dumper_writes_celerys_lines() -> None:
    out = io.StringIO()
    dumper = Dumper(out=out)
    dumper.on_event({"type": "worker-online", "hostname": "w@h", "timestamp": 0.0})
    assert out.getvalue() == "w@h [1970-01-01 00:00:00+00:00] started \n"


BODY = """
from celeriac.events.snapshot import Polaroid


@app.task(name="cam.add")
def add(x, y):
    return x + y


class Camera(Polaroid):
    def on_shutter(self, state):
        done = [t.name for t in state.tasks.values() if t.state == "SUCCESS"]
        mark("shots.txt", ",".join(done) or "-")
"""


@pytest.mark.slow
def test_events_camera_daemon_photographs_a_workers_tasks(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        pidfile = project.path("cam.pid")
        project.celeriac(
            "events", "-c", "tasks:Camera", "-F", "0.5", "-D", "--pidfile", str(pidfile),
            "-f", str(project.path("cam.log")), "-l", "INFO",
        )  # fmt: skip
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20)
        pid = int(pidfile.read_text())
        try:
            wait_until(lambda: project.read_lines("shots.txt"), 20)
            project.start_worker("-E", pool="threads")
            assert project.producer().send_task("cam.add", (2, 3)).get(timeout=20) == 5
            wait_until(
                lambda: any("cam.add" in line for line in project.read_lines("shots.txt")), 20
            )
        finally:
            os.kill(pid, signal.SIGTERM)
        assert "Taking snapshots with Camera" in project.path("cam.log").read_text()
