"""``pool_restart`` (Celery's remote-control command): reload modules, replace prefork children."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from celeriac import Celery
from celeriac.worker.panel import State, pool_restart, reload_modules
from helpers.processes import Project, wait_until

pytestmark = pytest.mark.timeout(90)

VERSIONED = """
VERSION = {version}


@app.task
def version():
    return VERSION
"""


def test_pool_restart_reloads_the_code_and_replaces_the_children(tmp_path: Path) -> None:
    settings = {"worker_pool_restarts": True}
    with Project(tmp_path, VERSIONED.format(version=1), settings=settings) as project:
        worker = project.start_worker(pool="prefork", concurrency=2, name="pr")
        wait_until(lambda: len(worker.child_pids()) == 2, timeout=20)
        before = set(worker.child_pids())
        producer = project.producer()
        assert producer.send_task("tasks.version").get(timeout=20) == 1
        project.write_module(VERSIONED.format(version=2), settings)
        host = worker.lines(r"ready\.")[0].split("]")[-1].split()[0]
        reply = producer.control.pool_restart(
            modules=["tasks"], reload=True, reply=True, destination=[host]
        )
        assert reply == [{host: {"ok": "reload started"}}]
        wait_until(
            lambda: len(worker.child_pids()) == 2 and not before & set(worker.child_pids()),
            timeout=30,
        )
        assert producer.send_task("tasks.version").get(timeout=20) == 2


def test_pool_restart_is_refused_unless_enabled(tmp_path: Path) -> None:
    with Project(tmp_path, VERSIONED.format(version=1)) as project:
        worker = project.start_worker(pool="prefork", concurrency=1, name="pr")
        wait_until(lambda: len(worker.child_pids()) == 1, timeout=20)
        pids = worker.child_pids()
        host = worker.lines(r"ready\.")[0].split("]")[-1].split()[0]
        reply = project.producer().control.pool_restart(reply=True, destination=[host])
        assert reply == [{host: {"error": "Pool restarts not enabled"}}]
        assert worker.child_pids() == pids


def test_in_process_pools_import_and_reload_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = "import sys\nsys.surface_loads = getattr(sys, 'surface_loads', 0) + 1\n"
    (tmp_path / "surface_reloaded.py").write_text(counter)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "surface_loads", 0, raising=False)
    app = Celery("restart", broker="memory://", worker_pool_restarts=True)
    state = State(SimpleNamespace(app=app, pool="threads"))
    try:
        assert pool_restart(state, modules=["surface_reloaded"]) == {"ok": "reload started"}
        assert sys.surface_loads == 1  # type: ignore[attr-defined]  # imported
        assert reload_modules(app, ["surface_reloaded"]) == []  # imported, no reload asked
        pool_restart(state, modules=["surface_reloaded"], reload=True)
        assert sys.surface_loads == 2  # type: ignore[attr-defined]  # importlib.reload
        calls: list[str] = []
        reload_modules(app, ["surface_reloaded"], True, lambda m: calls.append(m.__name__))
        assert calls == ["surface_reloaded"]
    finally:
        sys.modules.pop("surface_reloaded", None)
