"""RabbitMQ stopped and started under a worker draining 5,000 persistent late-ack tasks.

It stops the shared server for a few seconds (every other client on it sees the outage),
so it runs only when ``CELERIAC_TEST_RABBITMQ_RESTART=1`` asks for it (run it alone);
otherwise it is skipped with that reason.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
import redis

from celeriac import group
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory, rabbitmqctl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.environ.get("CELERIAC_TEST_RABBITMQ_RESTART") != "1",
        reason="stops the shared RabbitMQ: set CELERIAC_TEST_RABBITMQ_RESTART=1 to run it",
    ),
]

TASKS = 5000


@pytest.fixture
def transport_kind() -> str:
    """RabbitMQ only."""
    return "amqp"


def _ctl(*args: str) -> None:
    rabbitmqctl(*args)


def test_stop_app_start_app_loses_no_persistent_late_ack_task(
    make_app: AppFactory, worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(task_acks_late=True, task_ignore_result=True)
    client = redis.Redis.from_url(app.backend.url)  # results are in Redis
    done_key = f"{app.conf.task_default_queue}.done"
    client.delete(done_key)

    @app.task(name="restart.mark")
    def mark(n: int) -> None:
        client.sadd(done_key, n)

    group(mark.s(n) for n in range(TASKS)).apply_async()
    caplog.set_level(logging.WARNING, "celeriac.transports.amqp")
    running = worker(app, concurrency=4)
    wait_until(lambda: client.scard(done_key) >= 500, timeout=120)
    _ctl("stop_app")
    try:
        time.sleep(3)
    finally:
        _ctl("start_app")
    _ctl("await_startup")
    wait_until(lambda: client.scard(done_key) >= TASKS, timeout=300, interval=0.5)
    assert client.scard(done_key) == TASKS
    assert running.thread.is_alive()  # the same worker resumed
    assert "again" in caplog.text
    client.delete(done_key)
    client.close()
