"""``celeriac events``: the live line, ``--dump`` (Celery's lines exactly) and ``--json``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac.cli.events import Dumper, LiveFormat
from helpers.processes import PROCESS_TRANSPORTS, project_on
from helpers.vectors import load_vector

pytestmark = pytest.mark.timeout(90)

BODY = """
@app.task(name="cli.add")
def add(x, y):
    return x + y
"""


def _captured_events() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in load_vector("13-redis-events-task-lifecycle.json")["messages"]:
        body = item["decoded_body"]
        found.extend(body if isinstance(body, list) else [body])
    return found


def test_dump_lines_are_celerys() -> None:
    celery_dumper = pytest.importorskip("celery.events.dumper")
    ours = Dumper()
    out = io.StringIO()
    theirs = celery_dumper.Dumper(out=out)
    celery_dumper.TASK_NAMES.clear()
    expected = []
    for event in _captured_events():
        theirs.on_event(dict(event))
        expected.append(ours(dict(event)))
    assert out.getvalue().splitlines() == "\n".join(expected).splitlines()


def test_live_lines_say_what_happened() -> None:
    live = LiveFormat()
    lines = [live(dict(e)) for e in _captured_events()]
    assert any("task-succeeded  tasks.add[" in line and "result=10" in line for line in lines)
    assert any("worker-heartbeat" in line and "processed=0" in line for line in lines)
    assert any("task-revoked" in line and "expired" in line for line in lines)


@pytest.mark.parametrize("kind", PROCESS_TRANSPORTS)
def test_events_command_streams_a_workers_events(kind: str, tmp_path: Path) -> None:
    with project_on(kind, tmp_path, BODY) as project:
        out = tmp_path / "events.out"
        with open(out, "wb") as handle:
            watcher = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celeriac", "-A", project.module),
                    *("events", "--json", "--timeout", "20"),
                ],
                cwd=project.root,
                env=project.env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
            project.others.append(watcher)
            time.sleep(3.0)  # the command imports and subscribes
            worker = project.start_worker("-E", "-n", "cli@test")
            producer = project.producer()
            assert producer.send_task("cli.add", (2, 3)).get(timeout=20) == 5
            worker.stop()
            deadline = time.monotonic() + 20
            while b"worker-offline" not in out.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.1)
            watcher.terminate()
            watcher.wait(10)
    events = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    types = [e["type"] for e in events if e["hostname"] == "cli@test"]
    assert types[0] == "worker-online" and types[-1] == "worker-offline"
    assert {"task-received", "task-started", "task-succeeded"} <= set(types)
    [done] = [e for e in events if e["type"] == "task-succeeded"]
    assert done["result"] == "5" and "local_received" in done
