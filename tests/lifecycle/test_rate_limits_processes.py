"""Rate limits across real worker processes: the global scope over two prefork workers
(SQLite and Redis), and run-time changes reaching prefork children."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from helpers.processes import Project, wait_until
from helpers.services import redis_url
from lifecycle.support import redis_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

GLOBAL_TASKS = """
@app.task(rate_limit="10/s", rate_limit_scope="global")
def limited(n):
    mark("runs.txt", repr(time.time()))
    return n


@app.task
def free():
    return time.time()
"""


class LimitProject(Project):
    """A :class:`Project` whose tasks module and producers get ``settings`` (Redis: prefix)."""

    def __init__(self, root: Path, broker_url: str | None, settings: dict[str, Any]) -> None:
        self.settings = settings
        super().__init__(root)
        if broker_url is not None:
            self.broker_url = broker_url

    def write_module(self, body: str = "", settings: dict[str, Any] | None = None) -> None:
        super().write_module(body, {**getattr(self, "settings", {}), **(settings or {})})

    def producer(self, **settings: Any) -> Celery:
        return super().producer(**{**self.settings, **settings})


@pytest.fixture(params=["sqlite", "redis"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LimitProject]:
    """A tasks project on SQLite (its own file) or Redis (its own key prefix and queue)."""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        proj = LimitProject(tmp_path, redis_url(), redis_settings(prefix))
    else:
        proj = LimitProject(tmp_path, None, {})
    try:
        yield proj
    finally:
        proj.close()


def _windows_ok(stamps: list[float], rate: int, burst: int, jitter: float) -> list[float]:
    """Gaps that put more than ``rate + burst`` runs in some 1-s window (beyond ``jitter``)."""
    span = rate + burst
    return [
        stamps[i + span] - stamps[i]
        for i in range(len(stamps) - span)
        if stamps[i + span] - stamps[i] < 1.0 - jitter
    ]


def test_global_rate_limit_holds_across_two_prefork_workers(project: LimitProject) -> None:
    project.write_module(GLOBAL_TASKS)
    project.start_worker(concurrency=2, name="w1")
    project.start_worker(concurrency=2, name="w2")
    producer = project.producer()
    started = time.time()
    results = [producer.send_task("tasks.limited", (n,)) for n in range(30)]
    free_done = producer.send_task("tasks.free").get(timeout=20)
    assert sorted(r.get(timeout=30) for r in results) == list(range(30))
    stamps = sorted(float(line.split()[1]) for line in project.read_lines("runs.txt"))
    assert len(stamps) == 30
    assert free_done - started < 2.0, "the unlimited task waited behind the limited ones"
    assert stamps[-1] - stamps[0] >= 2.8, "30 runs at 10/s across the cluster take 2.9 s"
    # any 1-s window holds at most rate + burst runs (0.2 s of scheduling jitter allowed);
    # a per-worker limit would let twice the rate through
    assert _windows_ok(stamps, rate=10, burst=1, jitter=0.2) == []
    pids = {line.split()[0] for line in project.read_lines("runs.txt")}
    assert len(pids) >= 2, "both workers' children should share the work"


RUNTIME_TASKS = """
from celeriac import signals


@signals.worker_ready.connect
def change_limits(sender, **kwargs):
    sender.set_rate_limit("tasks.job", "5/s")
    sender.set_rate_limit("tasks.slow", None)
    mark("changed.txt")


@app.task
def job(n):
    return time.time()


@app.task(rate_limit="1/s")
def slow(n):
    return time.time()
"""


def test_rate_limit_set_on_the_worker_reaches_its_prefork_children(tmp_path: Path) -> None:
    with Project(tmp_path, RUNTIME_TASKS) as project:
        project.start_worker(concurrency=2)
        wait_until(lambda: project.read_lines("changed.txt"), 10)
        producer = project.producer()
        limited = sorted(
            r.get(timeout=20) for r in [producer.send_task("tasks.job", (n,)) for n in range(10)]
        )
        freed = sorted(
            r.get(timeout=20) for r in [producer.send_task("tasks.slow", (n,)) for n in range(6)]
        )
    # 10 calls at 5/s for the node (each of the 2 children keeps its share: 2.5/s)
    assert limited[-1] - limited[0] >= 1.5
    # the 1/s of the decorator is lifted: 6 calls would take 2.5 s or more with it
    assert freed[-1] - freed[0] < 2.0
