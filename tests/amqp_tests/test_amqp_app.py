"""An app on RabbitMQ end to end: tasks, ETA, remote control, dead letters (in-process worker)."""

from __future__ import annotations

import time

import pytest

from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def transport_kind() -> str:
    """These tests run on RabbitMQ only."""
    return "amqp"


def test_delay_and_get(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    assert add.delay(2, 3).get(timeout=10) == 5
    assert [r.get(timeout=10) for r in [add.delay(i, i) for i in range(20)]] == [
        2 * i for i in range(20)
    ]


def test_countdown_waits_in_the_broker(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()

    @app.task(name="t.now")
    def now() -> float:
        return time.time()

    worker(app)
    sent = time.time()
    ran = now.apply_async(countdown=2.5).get(timeout=15)
    assert sent + 2.5 <= ran < sent + 4.0


def test_inspect_ping(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app()
    running = worker(app)
    replies = app.control.inspect(timeout=1.0).ping()
    assert replies == {running.hostname: {"ok": "pong"}}


def test_shared_schedule_lives_in_rabbitmq(make_app: AppFactory) -> None:
    from celeriac.beat import SharedSchedule

    writer, reader = make_app(), make_app()
    SharedSchedule(writer).add("tick", "t.tick", 5.0, args=(1,))
    SharedSchedule(writer).add("tock", "t.tock", 10.0)
    SharedSchedule(writer).remove("tock")
    entries = SharedSchedule(reader).entries()
    assert set(entries) == {"tick"}
    assert entries["tick"]["task"] == "t.tick"
    assert entries["tick"]["args"] == [1]


def test_group_is_published_in_one_batch(make_app: AppFactory, worker: WorkerFactory) -> None:
    from celeriac import group
    from celeriac.transports.contracts import BatchPublish

    app = make_app()

    @app.task(name="t.double")
    def double(x: int) -> int:
        return 2 * x

    assert isinstance(app.transport, BatchPublish)
    worker(app)
    assert group(double.s(i) for i in range(30))().get(timeout=20) == [2 * i for i in range(30)]


def test_garbage_and_unknown_tasks_are_dead_lettered_with_their_reason(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    import amqp

    from helpers.processes import wait_until

    app = make_app()
    queue = app.conf.task_default_queue
    app.send_task("no.such.task", (1,))  # declares the queue too
    parts = app.broker_url.split("/")
    conn = amqp.Connection("127.0.0.1:5672", virtual_host=parts[-1])
    conn.connect()
    try:
        conn.channel().basic_publish(
            amqp.Message(b"\xff\x00 not json", content_type="application/json"),
            routing_key=queue,
        )
    finally:
        conn.close()
    worker(app)
    dead = wait_until(
        lambda: len(app.transport.dead_letters()) >= 2 and app.transport.dead_letters()
    )
    reasons = sorted(letter.reason for letter in dead)
    assert any("no.such.task" in reason for reason in reasons), reasons
    assert any("no.such.task" not in reason for reason in reasons), reasons
    assert {letter.queue for letter in dead} == {queue}
    assert app.transport.queue_length(queue) == 0
