"""``rpc://`` results between Celery 5.7 and celeriac over RabbitMQ, both directions.

A Celery producer's tasks run on a celeriac worker, which sends their states to the
producer's reply queue (Celery's ``ResultConsumer`` reads them); a celeriac producer's
tasks run on a Celery worker (``-P solo``), whose replies celeriac's reader takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers.services import redis_client

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]

TIMEOUT = 20


def _env(root: Path) -> Iterator[Interop]:
    client = redis_client()
    env = Interop(root, client, "amqp", results="rpc://")
    try:
        yield env
    finally:
        env.close()
        client.close()


@pytest.fixture(scope="module")
def to_celeriac(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    """Celery's tasks module on RabbitMQ with ``rpc://``, a celeriac prefork worker."""
    for env in _env(tmp_path_factory.mktemp("rpc_to_celeriac")):
        env.start_worker("celeriac", "prefork", 2)
        yield env


@pytest.fixture(scope="module")
def to_celery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    """celeriac's tasks module on RabbitMQ with ``rpc://``, a Celery ``-P solo`` worker."""
    for env in _env(tmp_path_factory.mktemp("rpc_to_celery")):
        env.start_worker("celery", "solo", 1)
        yield env


@pytest.fixture(params=["celery_client", "celeriac_client"])
def side(request: pytest.FixtureRequest) -> tuple[ModuleType, Interop]:
    """The producer's tasks module and the env whose worker is the other implementation."""
    if request.param == "celery_client":
        env = request.getfixturevalue("to_celeriac")
        return env.tasks("celery"), env
    env = request.getfixturevalue("to_celery")
    return env.tasks("celeriac"), env


def test_value_and_state(side: tuple[ModuleType, Interop]) -> None:
    tasks, env = side
    result = tasks.add.delay(2, 2)
    assert result.get(timeout=TIMEOUT) == 4, env.logs()
    assert result.state == "SUCCESS"
    assert result.ready() and result.successful()


def test_failure_raises_the_exception(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    result = tasks.fail.delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
    assert "ValueError" in (result.traceback or "")


def test_retry_then_value(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    assert tasks.retrying.delay(7).get(timeout=TIMEOUT) == {"x": 7, "retries": 1}


def test_many_results_arrive_out_of_order(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    results = [tasks.mul.delay(i, 3) for i in range(30)]
    assert [r.get(timeout=TIMEOUT) for r in reversed(results)] == [3 * i for i in range(30)][::-1]


def test_group(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    canvas = import_module(tasks.IMPL)  # celery.group or celeriac.group
    job = canvas.group(tasks.add.s(i, i) for i in range(10))
    assert job.apply_async().get(timeout=TIMEOUT) == [2 * i for i in range(10)]


def test_progress_state_reaches_the_caller(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    seen: list[dict[str, Any]] = []
    result = tasks.progress.delay(5, 1.0)
    assert result.get(timeout=TIMEOUT, on_message=seen.append) == 5
    states = [meta["status"] for meta in seen]
    assert "PROGRESS" in states and states[-1] == "SUCCESS", seen
    progress = next(meta for meta in seen if meta["status"] == "PROGRESS")
    assert progress["result"]["done"] == 5
    assert progress["task_id"] == result.id


def test_celeriac_client_polls_progress_from_a_celery_worker(to_celery: Interop) -> None:
    tasks = to_celery.tasks("celeriac")
    result = tasks.progress.delay(3, 2.0)
    deadline = time.monotonic() + TIMEOUT
    while result.state != "PROGRESS":
        assert time.monotonic() < deadline, to_celery.logs()
        time.sleep(0.05)
    assert result.info == {"done": 3, "by": "celery"}
    assert result.get(timeout=TIMEOUT) == 3 and result.state == "SUCCESS"


def test_celery_client_polls_progress_from_a_celeriac_worker(to_celeriac: Interop) -> None:
    """A fresh Celery client (no consumer yet) reads the state with ``basic_get``."""
    import subprocess
    import sys

    script = (
        "import time, celery_tasks as t\n"
        "r = t.progress.delay(4, 2.0)\n"
        "deadline = time.monotonic() + 20\n"
        "while r.state != 'PROGRESS' and time.monotonic() < deadline: time.sleep(0.05)\n"
        "print(r.state, r.info['done'], r.info['by'])\n"
        "print(r.get(timeout=20), r.state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=to_celeriac.root,
        env=to_celeriac.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + to_celeriac.logs()
    assert done.stdout.split("\n")[:2] == ["PROGRESS 4 celeriac", "4 SUCCESS"], done.stdout


def test_chain_result_reaches_the_caller(side: tuple[ModuleType, Interop]) -> None:
    """The worker sends the next step with the caller's ``reply_to`` (frozen in the
    signature's options, as Celery's ``freeze`` does)."""
    tasks, env = side
    canvas = import_module(tasks.IMPL)
    result = canvas.chain(tasks.add.s(1, 1), tasks.add.s(2), tasks.mul.s(10))()
    assert result.get(timeout=TIMEOUT) == 40, env.logs()


def test_chord_is_refused(side: tuple[ModuleType, Interop]) -> None:
    tasks, _ = side
    canvas = import_module(tasks.IMPL)
    with pytest.raises(NotImplementedError, match='"rpc" result backend does not support chords'):
        canvas.chord([tasks.add.s(1, 1), tasks.add.s(2, 2)])(tasks.tsum.s())
