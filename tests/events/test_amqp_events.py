"""A worker's events on RabbitMQ: ``celeryev`` is declared exactly as Celery declares it (a
durable topic exchange), by the worker's dispatchers and by receivers alike, and a worker
with ``-E`` sends the task lifecycle through it."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest

from celeriac import Celery
from celeriac.events import EventDispatcher
from celeriac.transports.amqp.fanout import Fanout
from events.listener import Listener
from helpers.services import (
    AppFactory,
    WorkerFactory,
    rabbitmq_delete_queues,
    rabbitmq_vhost,
    rabbitmqctl,
)

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def transport_kind() -> str:
    """These tests are about RabbitMQ only."""
    return "amqp"


def _exchanges(app: Celery) -> dict[str, tuple[str, str]]:
    """``{name: (type, durable)}`` of the app's vhost, as RabbitMQ reports them."""
    vhost = urlsplit(str(app.conf.broker_url)).path[1:] or "/"
    rows = rabbitmqctl(
        "--no-table-headers", "list_exchanges", "-p", vhost, "name", "type", "durable"
    )
    found: dict[str, tuple[str, str]] = {}
    for line in rows.splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


def test_the_event_exchange_is_celerys_durable_topic() -> None:
    assert Fanout._kind("celeryev") == ("topic", True)
    assert Fanout._kind("myevents") == ("topic", True)  # a custom event_exchange too
    assert Fanout._kind("celery.pidbox") == ("fanout", False)


def test_a_worker_sends_its_events_through_rabbitmq(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app()

    @app.task(name="amqpev.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="amqpev.retry", bind=True, max_retries=1, default_retry_delay=0)
    def retry(self, x: int) -> int:  # type: ignore[no-untyped-def]
        if self.request.retries == 0:
            raise self.retry(exc=KeyError("again"))
        return x

    with Listener(app) as seen:
        running = worker(app, send_events=True, hostname="amqpev@test", heartbeat_interval=0.5)
        seen.wait_for(lambda types: "worker-online" in types, timeout=30)
        ok = app.send_task("amqpev.add", (2, 2))
        again = app.send_task("amqpev.retry", (7,))
        assert ok.get(timeout=20) == 4
        assert again.get(timeout=20) == 7
        seen.wait_for(lambda types: types.count("task-succeeded") == 2, timeout=30)
        running.stop()
        seen.wait_for(lambda types: "worker-offline" in types, timeout=30)
    assert [e["type"] for e in seen.events if e.get("uuid") == ok.id] == [
        "task-received",
        "task-started",
        "task-succeeded",
    ]
    assert [e["type"] for e in seen.events if e.get("uuid") == again.id] == [
        "task-received",
        "task-started",
        "task-retried",
        "task-received",
        "task-started",
        "task-succeeded",
    ]
    [succeeded] = [e for e in seen.of("task-succeeded") if e["uuid"] == ok.id]
    assert succeeded["result"] == "4" and succeeded["hostname"] == "amqpev@test"
    assert seen.state.tasks[ok.id].state == "SUCCESS"
    assert _exchanges(app)["celeryev"] == ("topic", "true")


def test_a_stale_fanout_celeryev_drops_events_until_it_is_deleted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the CI saw: ``celeryev`` left as a fanout by an older celeriac. Publishing fails
    (logged, dropped; never raised into the worker); once deleted, Celery's topic returns."""
    import amqp

    with rabbitmq_vhost("stale") as url:
        parts = urlsplit(url)
        conn = amqp.Connection(
            host=f"{parts.hostname}:{parts.port or 5672}",
            userid=parts.username or "guest",
            password=parts.password or "guest",
            virtual_host=parts.path[1:],
        )
        conn.connect()
        try:
            conn.channel().exchange_declare("celeryev", "fanout", durable=False, auto_delete=False)
        finally:
            conn.close()
        app = Celery("stale", broker=url)
        try:
            dispatcher = EventDispatcher(app, "stale@test")
            with caplog.at_level(logging.WARNING, logger="celery.events"):
                dispatcher.send("worker-heartbeat", freq=2.0)  # must not raise
            assert "inequivalent arg 'type'" in caplog.text
            assert _exchanges(app)["celeryev"] == ("fanout", "false")
            rabbitmq_delete_queues(url, [], ["celeryev"])
            dispatcher._last_error = 0.0
            dispatcher.send("worker-heartbeat", freq=2.0)
            assert _exchanges(app)["celeryev"] == ("topic", "true")
        finally:
            app.close()
