"""A Celery 5.7 producer's calls run on a celeriac worker; Celery's ``get()`` reads them."""

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
def celery_tasks(module_interop: Interop) -> Iterator[ModuleType]:
    """Celery's tasks module, with one celeriac prefork worker on its queue."""
    module_interop.start_worker("celeriac", "prefork", 2)
    yield module_interop.tasks("celery")


def test_delay_returns_the_value(celery_tasks: ModuleType, module_interop: Interop) -> None:
    result = celery_tasks.add.delay(2, 2)
    assert result.get(timeout=TIMEOUT) == 4
    assert result.state == "SUCCESS"
    # result_extended fields as a Celery worker would store them
    assert result.name == "tasks.add"
    assert result.args == [2, 2]
    assert result.queue == module_interop.queue
    assert result.worker and result.worker.startswith("celeriac")


def test_failure_raises_valueerror(celery_tasks: ModuleType) -> None:
    result = celery_tasks.fail.delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
    assert "ValueError" in (result.traceback or "")


def test_retrying_task_returns_after_one_retry(
    celery_tasks: ModuleType, module_interop: Interop
) -> None:
    started = time.time()
    result = celery_tasks.retrying.delay(7)
    assert result.get(timeout=TIMEOUT) == {"x": 7, "retries": 1}
    runs = [
        line.decode().split()
        for line in module_interop.client.lrange(module_interop.key("interop.retrying"), 0, -1)
    ]
    mine = [run for run in runs if float(run[2]) >= started]
    assert [(impl, retries) for impl, retries, _ in mine] == [("celeriac", "0"), ("celeriac", "1")]
    assert float(mine[1][2]) - float(mine[0][2]) >= 1.0  # countdown=1
    assert result.retries == 1


def test_countdown_runs_no_sooner(celery_tasks: ModuleType) -> None:
    sent = datetime.now(UTC)
    result = celery_tasks.add.apply_async((3, 4), countdown=2)
    assert result.get(timeout=TIMEOUT) == 7
    assert result.date_done is not None
    done = result.date_done
    if done.tzinfo is None:
        done = done.replace(tzinfo=UTC)
    assert done >= sent + timedelta(seconds=2)


def test_link_callback_result_is_readable(
    celery_tasks: ModuleType, module_interop: Interop
) -> None:
    result = celery_tasks.add.apply_async((2, 2), link=celery_tasks.mul.s(10))
    assert result.get(timeout=TIMEOUT) == 4
    [child] = result.children  # stored with the parent's result, as Celery does
    assert child.get(timeout=TIMEOUT) == 40
    meta = json.loads(module_interop.client.get(module_interop.key(f"celery-task-meta-{child.id}")))
    assert meta["parent_id"] == result.id
    assert meta["args"] == [4, 10]
