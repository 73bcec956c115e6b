"""RabbitMQ: a SIGKILLed worker's unacked ``acks_late`` task runs again at once elsewhere."""

from __future__ import annotations

import time

import pytest

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def interop_broker() -> str:
    """RabbitMQ only."""
    return "amqp"


def _hang_log(interop: Interop) -> list[list[str]]:
    return [
        line.decode().split()
        for line in interop.client.lrange(interop.key("interop.hang.log"), 0, -1)
    ]


@pytest.mark.parametrize(
    ("holder", "rescuer"),
    [("celeriac", "celery"), ("celery", "celeriac"), ("celeriac", "celeriac")],
)
def test_killed_workers_task_runs_again_at_once(
    interop: Interop, holder: str, rescuer: str
) -> None:
    first = interop.start_worker(holder, "prefork", 1)
    result = interop.tasks("celeriac").hang.delay(120)
    interop.wait(lambda: len(_hang_log(interop)) >= 1, what=f"{holder} to start the task")
    interop.start_worker(rescuer, "prefork", 1)
    killed = time.monotonic()
    first.kill()
    assert result.get(timeout=30) == 2
    assert time.monotonic() - killed < 15  # no visibility timeout: at once
    second = _hang_log(interop)[1]
    assert second[0] == rescuer
    assert second[3] == "True"  # delivery_info['redelivered']
