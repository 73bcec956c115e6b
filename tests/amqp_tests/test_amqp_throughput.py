"""The fast paths stay safe: pipelined publisher confirms, multiple acks, inline heartbeats."""

from __future__ import annotations

import socket

import pytest

from celeriac.transports.amqp.sync import SyncPool
from transports.conftest import make_message, task_ids

from .conftest import AMQPFactory

pytestmark = pytest.mark.timeout(60)


def _queue(transport: object) -> str:
    return f"perf-{id(transport)}"


def test_pipelined_publishes_are_all_confirmed(amqp_transport: AMQPFactory) -> None:
    transport = amqp_transport()
    queue = _queue(transport)
    for n in range(300):
        transport.publish(make_message(n), queue)
    pool = transport.pool
    assert pool.pipelined and pool.window == 256
    transport.settle_publishes()
    assert not pool.unconfirmed()
    assert transport.queue_length(queue) == 300
    transport.purge(queue)


def test_confirm_window_one_waits_for_each_confirm(amqp_transport: AMQPFactory) -> None:
    transport = amqp_transport(extra={"confirm_window": 1})
    queue = _queue(transport)
    transport.publish(make_message(1), queue)
    assert not transport.pool.pipelined
    assert not transport.pool.unconfirmed()
    assert transport.queue_length(queue) == 1
    transport.purge(queue)


def test_messages_of_a_lost_producer_connection_are_published_again(
    amqp_transport: AMQPFactory,
) -> None:
    transport = amqp_transport()
    queue = _queue(transport)
    transport.publish(make_message("first"), queue)  # declares the queue, opens the pool
    pool: SyncPool = transport.pool
    pool.flush()
    for n in range(50):
        transport.publish(make_message(n), queue)
    (item,) = pool._items
    assert item.confirms is not None
    unconfirmed = len(item.confirms.pending)
    item.conn.transport.sock.shutdown(socket.SHUT_RDWR)  # the connection dies now
    transport.publish(make_message("after"), queue)  # on a new connection, with the rest
    pool.flush()
    assert not pool.unconfirmed()
    length = transport.queue_length(queue)
    # every message is there; those unconfirmed when the connection died may be twice
    assert 52 <= length <= 52 + unconfirmed
    transport.purge(queue)


async def test_multiple_ack_never_covers_a_held_delivery(amqp_transport: AMQPFactory) -> None:
    transport = amqp_transport()
    queue = _queue(transport)
    for n in range(10):
        transport.publish(make_message(n), queue)
    deliveries = await transport.fetch([queue], 10, 2.0)
    while len(deliveries) < 10:
        deliveries += await transport.fetch([queue], 10 - len(deliveries), 2.0)
    sent: list[tuple[int, bool]] = []
    channel = transport._consume_ch
    assert channel is not None
    original = channel.basic_ack

    async def spy(tag: int, multiple: bool = False, wait: bool = True) -> None:
        sent.append((tag, multiple))
        await original(tag, multiple=multiple, wait=wait)

    channel.basic_ack = spy  # type: ignore[method-assign]
    # deliveries 0 and 1 stay held: acking 2..9 must not use a multiple ack over them
    await transport.ack(deliveries[2:])
    assert not any(multiple for _, multiple in sent)
    await transport.requeue(deliveries[:2])
    back = await transport.fetch([queue], 10, 2.0)
    assert task_ids(back) == ["task-0", "task-1"]
    sent.clear()
    await transport.ack(back)
    assert len(sent) == 1 and sent[0][1] is True  # nothing else held: one frame
    await transport.aclose()
    assert transport.queue_length(queue) == 0


async def test_heartbeat_from_another_thread_keeps_the_connection(
    amqp_transport: AMQPFactory,
) -> None:
    transport = amqp_transport()
    queue = _queue(transport)
    transport.publish(make_message(1), queue)
    delivery = (await transport.fetch([queue], 1, 2.0))[0]
    assert transport.heartbeat_blocking()
    transport.renew_blocking([delivery])  # the inline runner's watchdog calls this
    await transport.ack([delivery])
    transport.publish(make_message(2), queue)
    assert task_ids(await transport.fetch([queue], 1, 2.0)) == ["task-2"]
    assert transport.connected
    await transport.aclose()


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"content_type": "application/json", "delivery_mode": 2, "priority": 9},
        {
            "content_type": "application/json",
            "content_encoding": "utf-8",
            "application_headers": {
                "lang": "py",
                "task": "proj.tasks.add",
                "id": "5f1c",
                "eta": None,
                "retries": 0,
                "big": 2**40,
                "neg": -5,
                "timelimit": [None, 30.5],
                "nested": {"a": [1, "b", True, False], "ü": "ünïcode"},
                "stamps": {},
                "args": ("x", 1),
                "raw": b"\x00\xff",
            },
            "delivery_mode": 2,
            "correlation_id": "5f1c",
            "reply_to": "",
            "expiration": "1000",
            "message_id": "m",
            "timestamp": 1700000000,
            "type": "t",
            "user_id": "guest",
            "app_id": "a",
            "cluster_id": "c",
        },
        {"application_headers": {"when": __import__("datetime").datetime(2026, 1, 2)}},
    ],
)
def test_fast_header_encoding_is_py_amqps(properties: dict[str, object]) -> None:
    import amqp

    from celeriac.transports.amqp.wire import FastMessage

    expected = amqp.Message(b"body", **properties)._serialize_properties()
    assert FastMessage(b"body", **properties)._serialize_properties() == expected


@pytest.mark.parametrize(
    ("body", "frame_max"),
    [
        (b'[[1, 2], {}, {"callbacks": null}]', 131072),
        (b"", 4096),
        ("ünïcode", 4096),
        (bytes(range(256)) * 100, 4096),
        (b"x" * 4088, 4096),
        (b"x" * 4089, 4096),
    ],
    ids=["small", "empty", "str", "several-frames", "exactly-one-frame", "one-byte-over"],
)
def test_publish_frames_are_py_amqps(body: bytes | str, frame_max: int) -> None:
    """The frames a pipelined producer writes itself are the bytes py-amqp would write."""
    import amqp
    from amqp import spec
    from amqp.method_framing import frame_writer
    from amqp.serialization import dumps

    from celeriac.transports.amqp.wire import FastMessage, publish_frames

    written: list[bytes] = []

    class Connection:
        bytes_sent = 0

    Connection.frame_max = frame_max  # type: ignore[attr-defined]

    class Transport:
        def write(self, data: bytes) -> None:
            written.append(bytes(data))

    headers = {"task": "proj.add", "id": "5f1c", "retries": 0, "eta": None}
    properties = {"content_type": "application/json", "delivery_mode": 2}
    expected_message = amqp.Message(body, application_headers=headers, **properties)
    args = dumps("Bssbb", (0, "celery", "celery.key", False, False))
    frame_writer(Connection(), Transport())(1, 7, spec.Basic.Publish, args, expected_message)
    message = FastMessage(body, application_headers=headers, **properties)
    assert publish_frames(7, "celery", "celery.key", message, frame_max) == b"".join(written)


def test_other_channels_of_a_pipelined_connection_confirm_each_publish(
    amqp_transport: AMQPFactory,
) -> None:
    import amqp

    transport = amqp_transport()
    queue = _queue(transport)
    transport.publish(make_message(1), queue)
    (item,) = transport.pool._items
    other = item.conn.channel()  # as dead letters and admin open one
    try:
        assert other.basic_publish.__func__ is amqp.Channel.basic_publish_confirm
    finally:
        other.close()
    transport.purge(queue)


async def test_an_ack_waits_for_what_the_process_published(amqp_transport: AMQPFactory) -> None:
    """A task's message leaves RabbitMQ only after what the task published (pipelined, on
    the producer) is confirmed: a worker killed in between runs the task again instead of
    losing what it sent."""
    transport = amqp_transport()
    queue, follow_ups = _queue(transport), f"{_queue(transport)}-next"
    transport.publish(make_message("task"), queue)
    (delivery,) = await transport.fetch([queue], 1, 5.0)
    transport.settle_publishes()
    for n in range(100):  # what the task's body sends
        transport.publish(make_message(n), follow_ups)
    assert transport.pool.unconfirmed()
    await transport.ack([delivery])
    assert not transport.pool.unconfirmed()
    assert transport.queue_length(follow_ups) == 100
    transport.purge(follow_ups)
