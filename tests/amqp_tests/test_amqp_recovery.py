"""Connection recovery: a worker whose connection RabbitMQ closes resumes; a missing broker
is retried with one log line per attempt and does not keep the worker from stopping."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from celeriac import Celery
from celeriac.contrib.testing import start_worker
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory, free_port, rabbitmqctl

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def transport_kind() -> str:
    """These tests run on RabbitMQ only."""
    return "amqp"


def close_connections(vhost: str) -> int:
    """Close every connection to ``vhost`` as ``rabbitmqctl close_connection`` does."""
    listed = rabbitmqctl("list_connections", "pid", "vhost")
    pids = [
        line.split("\t")[0]
        for line in listed.splitlines()
        if line.strip().endswith("\t" + vhost) or line.split("\t")[-1:] == [vhost]
    ]
    for pid in pids:
        rabbitmqctl("close_connection", pid, "test", check=False)
    return len(pids)


def test_worker_resumes_after_rabbitmq_closes_its_connection(
    make_app: AppFactory, worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()

    @app.task(name="r.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    assert add.delay(1, 1).get(timeout=10) == 2
    vhost = app.broker_url.rsplit("/", 1)[1]
    caplog.set_level(logging.WARNING, "celeriac.transports.amqp")
    assert close_connections(vhost) >= 1
    assert add.delay(2, 2).get(timeout=30) == 4
    text = caplog.text
    assert "lost" in text
    assert "again" in text


def test_a_missing_broker_is_retried_with_one_line_per_attempt_and_stopping_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    app = Celery(
        "down",
        broker=f"amqp://guest:guest@127.0.0.1:{port}//",
        backend="memory://",
        set_as_current=False,
    )
    caplog.set_level(logging.WARNING, "celeriac.transports.amqp")
    with start_worker(app, pool="solo", perform_ping_check=False) as running:
        wait_until(lambda: "Trying again in" in caplog.text, timeout=10)
        stopping = threading.Thread(target=running.stop)
        started = time.monotonic()
        stopping.start()
        stopping.join(timeout=15)
        assert not running.thread.is_alive()
        assert time.monotonic() - started < 10
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Cannot connect")]
    assert lines[0].startswith(f"Cannot connect to amqp://guest@127.0.0.1:{port}/%2F: ")
    assert "Trying again in" in lines[0]


def test_a_job_waiting_when_the_connection_closes_runs_only_as_its_redelivered_copy(
    make_app: AppFactory, worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """RabbitMQ requeues every delivery of a closed connection: a job that was waiting for
    a free thread then must not start, or its redelivered copy would run it a second time."""
    app = make_app()
    started, gate = threading.Event(), threading.Event()
    runs: list[int] = []

    @app.task(name="r.block")
    def block() -> None:
        started.set()
        gate.wait(10)

    @app.task(name="r.record")
    def record(n: int) -> int:
        runs.append(n)
        return n

    caplog.set_level(logging.INFO)
    worker(app, concurrency=1)
    block.delay()
    assert started.wait(10)
    waiting = record.delay(7)
    wait_until(lambda: f"r.record[{waiting.id}] received" in caplog.text, timeout=10)
    vhost = app.broker_url.rsplit("/", 1)[1]
    assert close_connections(vhost) >= 1
    wait_until(lambda: "Connection to" in caplog.text and "lost" in caplog.text, timeout=10)
    gate.set()
    assert waiting.get(timeout=30) == 7
    time.sleep(0.5)  # a second run would come right after the first
    assert runs == [7]
    assert f"r.record[{waiting.id}]: not running it here" in caplog.text
