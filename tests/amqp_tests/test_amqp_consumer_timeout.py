"""A task that runs past RabbitMQ's consumer_timeout runs once (its delivery is renewed).

RabbitMQ checks the timeout once a minute, so the server's limit is lowered to 5 s for
the test (``rabbitmqctl eval``, restored afterwards) and the task runs for 70 s: without
renewal its channel would be closed at the first check and the task delivered again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from helpers.services import AppFactory, WorkerFactory, rabbitmqctl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def transport_kind() -> str:
    """RabbitMQ only."""
    return "amqp"


def _ctl_eval(expression: str) -> str:
    return rabbitmqctl("eval", expression).strip()


@pytest.fixture
def short_consumer_timeout() -> Iterator[None]:
    before = _ctl_eval("application:get_env(rabbit, consumer_timeout).")
    _ctl_eval("application:set_env(rabbit, consumer_timeout, 5000).")
    try:
        yield
    finally:
        value = before.removeprefix("{ok,").removesuffix("}")
        if value.isdigit():
            _ctl_eval(f"application:set_env(rabbit, consumer_timeout, {value}).")
        else:
            _ctl_eval("application:unset_env(rabbit, consumer_timeout).")


def test_a_task_longer_than_consumer_timeout_runs_once(
    short_consumer_timeout: None, make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app(broker_transport_options={"consumer_timeout": 5, "visibility_timeout": 3})
    runs: list[float] = []
    lock = threading.Lock()

    @app.task(name="ct.long")
    def long(seconds: float) -> str:
        with lock:
            runs.append(time.time())
        time.sleep(seconds)
        return "done"

    worker(app, concurrency=2)
    result = long.delay(70)
    assert result.get(timeout=150) == "done"
    time.sleep(2)
    assert len(runs) == 1
