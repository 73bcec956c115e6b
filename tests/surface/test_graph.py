"""``celeriac graph bootsteps|workers``: DOT graphs of a project's steps and of live workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from celeriac import Celery, bootsteps
from celeriac.cli.graph import bootsteps_dot
from helpers.processes import Project, wait_until

pytestmark = pytest.mark.timeout(60)


class Audit(bootsteps.StartStopStep):
    label = "Audit"


class Metrics(bootsteps.ConsumerStep):
    requires = (Audit,)


def test_bootsteps_graph_has_the_projects_steps_and_requires() -> None:
    app = Celery("graph", broker="memory://", set_as_current=False)
    app.steps["worker"].add(Audit)
    app.steps["consumer"].add(Metrics)
    dot = bootsteps_dot(app.steps)
    audit = f"{Audit.__module__}.Audit"
    metrics = f"{Metrics.__module__}.Metrics"
    assert dot.startswith('digraph "bootsteps" {') and dot.endswith("}")
    assert f'"{audit}" -> "worker";' in dot
    assert f'"{metrics}" -> "{audit}";' in dot
    assert '"consumer" -> "worker";' in dot


@pytest.mark.slow
def test_graph_workers_draws_the_running_prefork_worker(tmp_path: Path) -> None:
    with Project(tmp_path, "") as project:
        worker = project.start_worker(pool="prefork", concurrency=2, name="gw")
        wait_until(lambda: len(worker.child_pids()) == 2, timeout=20)
        out = project.celeriac("graph", "workers", "--timeout", "3")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith('digraph "workers" {')
        for pid in worker.child_pids():
            assert f"(pid {pid})" in out.stdout
        boot = project.celeriac("graph", "bootsteps")
        assert boot.returncode == 0 and '"consumer" -> "worker";' in boot.stdout
