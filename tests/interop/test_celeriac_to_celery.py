"""celeriac's calls run on a real Celery 5.7 worker; celeriac's ``get()`` reads the results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TIMEOUT = 20


@pytest.fixture(scope="module")
def celeriac_tasks(module_interop: Interop) -> Iterator[ModuleType]:
    """celeriac's tasks module, with one Celery prefork worker (-c 2) on its queue."""
    module_interop.start_worker("celery", "prefork", 2)
    yield module_interop.tasks("celeriac")


def test_delay_returns_the_value(celeriac_tasks: ModuleType, module_interop: Interop) -> None:
    result = celeriac_tasks.add.delay(2, 2)
    assert result.get(timeout=TIMEOUT) == 4
    assert result.state == "SUCCESS"
    assert result.name == "tasks.add"
    assert result.args == [2, 2]
    assert result.queue == module_interop.queue
    assert result.worker and result.worker.startswith("celery")


def test_failure_raises_valueerror(celeriac_tasks: ModuleType) -> None:
    result = celeriac_tasks.fail.delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
    assert "ValueError" in (result.traceback or "")


def test_retrying_task_returns_after_one_retry(
    celeriac_tasks: ModuleType, module_interop: Interop
) -> None:
    started = time.time()
    result = celeriac_tasks.retrying.delay(7)
    assert result.get(timeout=TIMEOUT) == {"x": 7, "retries": 1}
    runs = [
        line.decode().split()
        for line in module_interop.client.lrange(module_interop.key("interop.retrying"), 0, -1)
    ]
    mine = [run for run in runs if float(run[2]) >= started]
    assert [(impl, retries) for impl, retries, _ in mine] == [("celery", "0"), ("celery", "1")]
    assert float(mine[1][2]) - float(mine[0][2]) >= 1.0  # countdown=1
    assert result.retries == 1


def test_countdown_runs_no_sooner(celeriac_tasks: ModuleType) -> None:
    sent = datetime.now(UTC)
    result = celeriac_tasks.add.apply_async((3, 4), countdown=2)
    assert result.get(timeout=8) == 7
    assert result.date_done is not None
    done = result.date_done
    if done.tzinfo is None:
        done = done.replace(tzinfo=UTC)
    assert done >= sent + timedelta(seconds=2)


def test_link_callback_result_is_readable(
    celeriac_tasks: ModuleType, module_interop: Interop
) -> None:
    result = celeriac_tasks.add.apply_async((2, 2), link=celeriac_tasks.mul.s(10))
    assert result.get(timeout=TIMEOUT) == 4
    [child] = result.children
    assert child.get(timeout=TIMEOUT) == 40
    meta = json.loads(module_interop.client.get(module_interop.key(f"celery-task-meta-{child.id}")))
    assert meta["parent_id"] == result.id
    assert meta["args"] == [4, 10]
