"""The broadcast and reply-queue contract on every transport, and kombu's exact Redis layout."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.protocol.message import Message
from celeriac.transports.base import Transport
from celeriac.transports.redis import RedisTransport
from helpers.services import WITH_AMQP, AppFactory, redis_db, redis_keyspace

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """This module's tests also run on RabbitMQ (results in Redis)."""
    return str(request.param)


SEP = "\x06\x16"


def message(text: str) -> Message:
    return Message(body=json.dumps({"text": text}).encode(), headers={"clock": 1})


@pytest.fixture
def transport(make_app: AppFactory) -> Iterator[Transport]:
    app: Celery = make_app()
    yield app.new_transport()


def test_subscribers_get_broadcasts_sent_after_they_subscribed(transport: Transport) -> None:
    exchange = f"x{uuid.uuid4().hex[:6]}.pidbox"

    async def scenario() -> tuple[Any, Any, Any]:
        transport.publish_fanout(message("before"), exchange)  # nobody listens: lost
        first = await transport.subscribe_fanout(exchange, queue="n1." + exchange)
        second = await transport.subscribe_fanout(exchange)
        other = await transport.subscribe_fanout(exchange + "-other")
        try:
            await asyncio.to_thread(transport.publish_fanout, message("hello"), exchange)
            got = await first.get(5), await second.get(5)
            nothing = await other.get(0.3), await first.get(0.3)
            await transport.apublish_fanout(message("again"), exchange)
            again = await first.get(5)
            return got, nothing, again
        finally:
            for sub in (first, second, other):
                await sub.aclose()

    (one, two), nothing, again = asyncio.run(scenario())
    assert json.loads(one.body) == {"text": "hello"} == json.loads(two.body)
    assert one.properties["delivery_info"] == {"exchange": exchange, "routing_key": ""}
    assert one.headers == {"clock": 1}
    assert nothing == (None, None)
    assert json.loads(again.body) == {"text": "again"}


def test_reply_queue_bind_publish_pop_delete(transport: Transport) -> None:
    exchange = f"reply.x{uuid.uuid4().hex[:6]}.pidbox"
    oid = str(uuid.uuid4())
    queue = f"{oid}.{exchange}"
    transport.bind_queue(exchange, oid, queue)
    assert transport.publish_routed(message("one"), exchange, "someone-else") == 0
    assert transport.publish_routed(message("one"), exchange, oid) == 1
    assert asyncio.run(transport.apublish_routed(message("two"), exchange, oid)) == 1
    first = transport.pop_message(queue, 2)
    second = transport.pop_message(queue, 2)
    assert first is not None and json.loads(first.body) == {"text": "one"}
    assert second is not None and json.loads(second.body) == {"text": "two"}
    assert first.properties["delivery_info"] == {"exchange": exchange, "routing_key": oid}
    started = time.monotonic()
    assert transport.pop_message(queue, 0.3) is None
    assert time.monotonic() - started >= 0.25
    # A reply published while the client waits wakes it.
    timer = threading.Timer(0.2, transport.publish_routed, (message("late"), exchange, oid))
    timer.start()
    late = transport.pop_message(queue, 5)
    timer.join()
    assert late is not None and json.loads(late.body) == {"text": "late"}
    transport.publish_routed(message("left over"), exchange, oid)
    transport.delete_queue(queue, exchange, oid)
    assert transport.publish_routed(message("gone"), exchange, oid) == 0
    assert transport.pop_message(queue, 0.1) is None


# -- Redis: kombu's layout, exactly ---------------------------------------------------------
@pytest.fixture
def redis_transport() -> Iterator[tuple[RedisTransport, Any, str]]:
    from celeriac.transports.base import TransportOptions

    with redis_keyspace("ctl") as space:
        options = TransportOptions(extra={"global_keyprefix": space.prefix})
        transport = RedisTransport(space.url, options)
        try:
            yield transport, space.client, space.prefix
        finally:
            transport.close()


def test_redis_fanout_is_publish_on_kombus_channel(
    redis_transport: tuple[RedisTransport, Any, str],
) -> None:
    transport, client, prefix = redis_transport
    db = redis_db()
    assert transport.fanout_channel("celery.pidbox") == f"{prefix}/{db}.celery.pidbox"
    assert transport.fanout_channel("celeryev", "worker.heartbeat") == (
        f"{prefix}/{db}.celeryev/worker.heartbeat"
    )
    pubsub = client.pubsub()
    pubsub.subscribe(f"{prefix}/{db}.celery.pidbox")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    transport.publish_fanout(message("hi"), "celery.pidbox")
    item = pubsub.get_message(timeout=2)
    pubsub.close()
    envelope = json.loads(item["data"])
    assert envelope["properties"]["delivery_info"] == {
        "exchange": "celery.pidbox",
        "routing_key": "",
    }
    assert envelope["properties"]["body_encoding"] == "base64"
    assert envelope["content-type"] == "application/json"


def test_redis_subscription_uses_psubscribe_and_writes_the_mailbox_binding(
    redis_transport: tuple[RedisTransport, Any, str],
) -> None:
    transport, client, prefix = redis_transport
    db = redis_db()

    async def scenario() -> tuple[Any, Any, set[bytes]]:
        sub = await transport.subscribe_fanout("celery.pidbox", "", queue="w1@h.celery.pidbox")
        members = client.smembers(f"{prefix}_kombu.binding.celery.pidbox")
        # A kombu publisher: PUBLISH the envelope on the channel.
        envelope = {
            "body": "eyJ4IjogMX0=",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {},
            "properties": {"body_encoding": "base64", "delivery_tag": "t", "priority": 0},
        }
        await asyncio.to_thread(
            client.publish, f"{prefix}/{db}.celery.pidbox", json.dumps(envelope)
        )
        got = await sub.get(5)
        events = await transport.subscribe_fanout("celeryev", "#")
        await asyncio.to_thread(
            client.publish, f"{prefix}/{db}.celeryev/worker.heartbeat", json.dumps(envelope)
        )
        event = await events.get(5)
        await sub.aclose()
        await events.aclose()
        return got, event, members

    got, event, members = asyncio.run(scenario())
    assert json.loads(got.body) == {"x": 1}
    assert json.loads(event.body) == {"x": 1}
    assert members == {f"{SEP}{SEP}w1@h.celery.pidbox".encode()}
    assert not client.exists(f"{prefix}_kombu.binding.celery.pidbox")  # removed on close


def test_redis_reply_queue_keys(redis_transport: tuple[RedisTransport, Any, str]) -> None:
    transport, client, prefix = redis_transport
    oid = str(uuid.uuid4())
    queue = f"{oid}.reply.celery.pidbox"
    transport.bind_queue("reply.celery.pidbox", oid, queue)
    table = f"{prefix}_kombu.binding.reply.celery.pidbox"
    assert client.smembers(table) == {f"{oid}{SEP}{SEP}{queue}".encode()}
    deadline = client.zscore(f"{prefix}_kombu.binding_deadlines", "reply.celery.pidbox")
    assert deadline is not None and deadline > time.time() * 1000 + 3_000_000
    assert transport.publish_routed(message("r"), "reply.celery.pidbox", oid) == 1
    raw = client.lrange(f"{prefix}{queue}", 0, -1)
    assert len(raw) == 1
    assert json.loads(raw[0])["properties"]["delivery_info"]["routing_key"] == oid
    # A reply pushed by kombu (LPUSH) is popped from the right, priority lists too.
    client.lpush(f"{prefix}{queue}{SEP}3", raw[0])
    assert transport.pop_message(queue, 1) is not None
    assert transport.pop_message(queue, 1) is not None
    transport.delete_queue(queue, "reply.celery.pidbox", oid)
    assert not client.exists(table, f"{prefix}{queue}")
