"""Interop with kombu's own Redis transport (and a Celery producer) on one database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from celeriac.protocol.message import Message
from celeriac.protocol.task_message import decode
from celeriac.transports.redis import RedisTransport
from helpers.services import redis_url

kombu = pytest.importorskip("kombu")

pytestmark = pytest.mark.interop


@contextmanager
def kombu_connection(prefix: str, **options: Any) -> Iterator[Any]:
    with kombu.Connection(
        redis_url(), transport_options={"global_keyprefix": prefix, **options}
    ) as conn:
        yield conn


def celery_queue(name: str = "celery") -> Any:
    return kombu.Queue(name, kombu.Exchange(name), routing_key=name)


def message(n: int | str) -> Message:
    body = json.dumps(
        [[n], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    ).encode()
    return Message(
        body=body,
        headers={"lang": "py", "task": "tasks.echo", "id": f"task-{n}", "retries": 0},
        properties={"correlation_id": f"task-{n}", "reply_to": "", "delivery_mode": 2},
    )


def kombu_publish(prefix: str, body: Any, priority: int = 0, **kwargs: Any) -> None:
    with kombu_connection(prefix) as conn:
        producer = conn.Producer(serializer="json")
        options: dict[str, Any] = {
            "exchange": "",
            "routing_key": "celery",
            "declare": [celery_queue()],
        }
        options.update(kwargs)
        producer.publish(body, priority=priority, **options)


def kombu_get_all(prefix: str, queue: str = "celery", ack: bool = True) -> list[Any]:
    """Every message kombu's consumer takes from ``queue`` (BRPOP path), in order."""
    out = []
    with kombu_connection(prefix) as conn:
        simple = conn.SimpleQueue(celery_queue(queue))
        while True:
            try:
                got = simple.get(timeout=0.5)
            except simple.Empty:
                break
            out.append(got)
            if ack:
                got.ack()
        simple.close()
    return out


async def test_kombu_publishes_celeriac_fetches(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    kombu_publish(
        prefix,
        {"hello": "world"},
        priority=0,
        headers={"task": "tasks.x", "id": "k-1"},
        correlation_id="k-1",
    )
    transport = make_transport()
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    assert delivery.message is not None
    assert json.loads(delivery.message.body) == {"hello": "world"}
    assert delivery.message.headers == {"task": "tasks.x", "id": "k-1"}
    properties = delivery.message.properties
    assert properties["delivery_info"] == {"exchange": "", "routing_key": "celery"}
    assert properties["correlation_id"] == "k-1"
    assert delivery.tag == properties["delivery_tag"]
    await transport.ack([delivery])
    await transport.aclose()


async def test_celeriac_publishes_kombu_consumes(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    transport = make_transport()
    transport.publish(message(1), "celery")
    await transport.apublish(message(2), "celery")
    got = kombu_get_all(prefix)
    assert [m.headers["id"] for m in got] == ["task-1", "task-2"]
    assert got[0].payload == [
        [1],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]
    assert got[0].delivery_info["routing_key"] == "celery"
    assert transport.queue_length("celery") == 0


async def test_priorities_agree_with_kombu(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    """kombu on Redis runs priority 0 first and 9 last; so do we, for either producer."""
    for n, priority in enumerate([9, 0, 5, 0]):
        kombu_publish(prefix, n, priority=priority, headers={"id": f"k{n}"})
    transport = make_transport()
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    assert [d.message.headers["id"] for d in deliveries if d.message] == ["k1", "k3", "k2", "k0"]
    await transport.ack(deliveries)
    for n, priority in enumerate([9, 0, 5, 0]):
        transport.publish(message(n), "celery", priority=priority)
    assert [m.headers["id"] for m in kombu_get_all(prefix)] == [
        "task-1",
        "task-3",
        "task-2",
        "task-0",
    ]
    await transport.aclose()


async def test_a_named_exchange_routes_through_our_binding(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    """A Celery producer publishing to exchange 'jobs' finds the queue we declared."""
    transport = make_transport()
    assert await transport.fetch(["jobs"], 10, 0) == []  # declares the queue, as Celery would
    with kombu_connection(prefix) as conn:
        conn.Producer(serializer="json").publish(
            "routed",
            exchange=kombu.Exchange("jobs", "direct"),
            routing_key="jobs",
            headers={"id": "routed"},
            declare=[],
        )
    [delivery] = await transport.fetch(["jobs"], 10, 1.0)
    assert delivery.message is not None and delivery.message.headers["id"] == "routed"
    assert delivery.message.properties["delivery_info"]["exchange"] == "jobs"
    await transport.ack([delivery])
    await transport.aclose()


async def test_kombu_restores_a_lease_we_left(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """A dead celeriac worker's message is put back by a Celery worker's restore."""
    transport = make_transport()
    transport.publish(message(1), "celery")
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    rclient.zadd(f"{prefix}unacked_index", {delivery.tag: time.time() - 7200})  # hour old
    with kombu_connection(prefix) as conn:
        conn.default_channel.qos.restore_visible()
    assert rclient.hlen(f"{prefix}unacked") == 0
    [again] = await transport.fetch(["celery"], 10, 1.0)
    assert again.tag == delivery.tag
    assert again.delivery_count == 2
    assert again.message is not None
    assert again.message.headers["redelivered"] is True
    assert again.message.properties["delivery_info"]["redelivered"] is True
    await transport.ack([again])
    await transport.aclose()


async def test_kombu_does_not_restore_a_renewed_lease(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """A live worker's long task outlives visibility_timeout and is not redelivered."""
    transport = make_transport()
    transport.publish(message(1), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    with kombu_connection(prefix, visibility_timeout=1) as conn:
        for _ in range(3):
            time.sleep(0.6)
            await transport.renew(deliveries)
            conn.default_channel.qos.restore_visible(interval=1)
    assert rclient.hlen(f"{prefix}unacked") == 1
    assert transport.queue_length("celery") == 0
    await transport.ack(deliveries)
    await transport.aclose()


async def test_we_restore_a_lease_kombu_left(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """A dead Celery worker's message is put back by our restore."""
    transport = make_transport(visibility_timeout=60)
    transport.publish(message(1), "celery")
    with kombu_connection(prefix) as conn:
        channel = conn.channel()
        got = channel.basic_get("celery", no_ack=False)
        assert got.headers["id"] == "task-1"
        tag = got.delivery_tag
        assert rclient.hexists(f"{prefix}unacked", tag)
        channel.qos._delivered.clear()  # die without the shutdown restore
        channel.close()
    rclient.zadd(f"{prefix}unacked_index", {tag: time.time() - 120})
    assert await transport.restore_visible() == 1
    [again] = await transport.fetch(["celery"], 10, 1.0)
    assert again.tag == tag
    assert again.message is not None
    assert again.message.headers["redelivered"] is True
    await transport.ack([again])
    await transport.aclose()


async def test_kombu_restore_leaves_our_garbage_alone(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """A leased non-envelope never enters kombu's unacked hash, which kombu would choke on."""
    transport = make_transport(visibility_timeout=60)
    transport.publish_raw(b"\xff not json", "celery")
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    assert delivery.message is None and delivery.raw == b"\xff not json"
    assert rclient.hlen(f"{prefix}unacked") == 0
    rclient.zadd(f"{prefix}celeriac.unacked_raw_index", {delivery.tag: time.time() - 120})
    with kombu_connection(prefix) as conn:
        conn.default_channel.qos.restore_visible()
    assert transport.queue_length("celery") == 0
    assert await transport.restore_visible() == 1
    assert rclient.lrange(f"{prefix}celery", 0, -1) == [b"\xff not json"]
    await transport.aclose()


async def test_celery_producer_messages_decode(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    celery = pytest.importorskip("celery")
    app = celery.Celery(
        "interop", broker=redis_url(), broker_transport_options={"global_keyprefix": prefix}
    )
    try:
        sent = app.send_task("tasks.add", (2, 2), priority=9)
        later = app.send_task("tasks.add", (3, 3), countdown=60)
    finally:
        app.close()
    transport = make_transport()
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    # The ETA message of a Celery producer is an ordinary list item: the worker holds it.
    calls = {d.tag: decode(d.message) for d in deliveries if d.message}
    by_id = {call.id: call for call in calls.values()}
    assert set(by_id) == {sent.id, later.id}
    assert by_id[sent.id].name == "tasks.add" and by_id[sent.id].args == [2, 2]
    assert by_id[later.id].eta is not None
    assert [d.message.headers["id"] for d in deliveries if d.message] == [later.id, sent.id]
    await transport.ack(deliveries)
    await transport.aclose()


async def test_sweep_drops_bookkeeping_a_celery_ack_left(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """kombu restores a dead celeriac consumer's lease and a Celery worker acks it: no
    celeriac ack runs, so a consumer's sweep drops the owner entry and, after its TTL, the
    delivery count."""
    dead = make_transport()
    dead.publish(message(1), "celery")
    [delivery] = await dead.fetch(["celery"], 10, 1.0)
    await dead.aclose()
    rclient.zadd(f"{prefix}unacked_index", {delivery.tag: time.time() - 7200})
    with kombu_connection(prefix) as conn:
        channel = conn.channel()
        channel.qos.restore_visible()
        again = channel.basic_get("celery", no_ack=False)
        assert again.delivery_tag == delivery.tag
        again.ack()
        channel.close()
    owners, counts = f"{prefix}celeriac.owners", f"{prefix}celeriac.deliveries"
    assert rclient.hexists(owners, delivery.tag) and rclient.hexists(counts, delivery.tag)
    survivor = make_transport(delivery_count_ttl=0.5)
    held = make_transport()
    held.publish(message(2), "celery")
    [kept] = await held.fetch(["celery"], 10, 1.0)
    assert await survivor.sweep() == 1  # the owner entry goes at once ...
    assert not rclient.hexists(owners, delivery.tag)
    assert rclient.hexists(counts, delivery.tag)  # ... the count waits for its TTL
    time.sleep(0.6)
    assert await survivor.sweep() == 1
    assert not rclient.hexists(counts, delivery.tag)
    # A message still leased keeps everything.
    assert rclient.hexists(owners, kept.tag) and rclient.hexists(counts, kept.tag)
    await held.ack([kept])
    await survivor.aclose()
    await held.aclose()
