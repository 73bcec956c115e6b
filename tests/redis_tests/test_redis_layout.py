"""What the Redis broker writes, compared byte for byte with Celery 5.7's captured traffic."""

from __future__ import annotations

import ast
import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from celeriac.protocol.message import Message
from celeriac.transports.redis import RedisTransport
from helpers.vectors import find_vector

SEP = "\x06\x16"


def message_of(envelope: dict[str, Any]) -> Message:
    """The Message a Celery producer handed to kombu for this stored envelope."""
    return Message(
        body=base64.b64decode(envelope["body"]),
        content_type=envelope["content-type"],
        content_encoding=envelope["content-encoding"],
        headers=envelope["headers"],
        properties=envelope["properties"],
    )


def keys_without(prefix: str, client: redis.Redis) -> dict[bytes, bytes]:
    """Every key of the test, prefix removed, with its type."""
    return {
        key[len(prefix) :]: client.type(key)
        for key in client.scan_iter(match=f"{prefix}*", count=1000)
    }


def vector_keys(data: dict[str, Any]) -> dict[bytes, bytes]:
    return {
        ast.literal_eval(key): value["type"].encode()
        for key, value in data["redis_keys_after_send"].items()
    }


@pytest.mark.parametrize("name", ["01", "02"])
def test_published_message_is_celerys_list_item(
    name: str, make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    data = find_vector(name)
    [captured] = data["messages"]
    envelope = captured["envelope"]
    transport = make_transport()
    transport.publish(message_of(envelope), "celery", priority=envelope["properties"]["priority"])
    key = prefix.encode() + ast.literal_eval(captured["redis_key_repr"])
    assert rclient.lrange(key, 0, -1) == [captured["raw_list_item"].encode()]
    assert keys_without(prefix, rclient) == vector_keys(data)
    member = f"celery{SEP}{SEP}celery".encode()
    assert rclient.smembers(f"{prefix}_kombu.binding.celery") == {member}
    assert rclient.smembers(f"{prefix}_kombu.binding_permanent.celery") == {member}


def test_priority_lists_are_kombus(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport()
    envelope = find_vector("01")["messages"][0]["envelope"]
    for priority in range(10):
        transport.publish(message_of(envelope), "jobs", priority=priority)
    lengths = {
        key.decode()[len(prefix) :]: rclient.llen(key)
        for key in rclient.scan_iter(match=f"{prefix}jobs*")
    }
    assert lengths == {"jobs": 3, f"jobs{SEP}3": 3, f"jobs{SEP}6": 3, f"jobs{SEP}9": 1}
    raw = rclient.lrange(f"{prefix}jobs{SEP}9", 0, -1)[0]
    assert json.loads(raw)["properties"]["priority"] == 9


def test_custom_sep_and_priority_steps(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport(sep=":", priority_steps=[0, 5])
    envelope = find_vector("01")["messages"][0]["envelope"]
    transport.publish(message_of(envelope), "jobs", priority=7)
    assert rclient.llen(f"{prefix}jobs:5") == 1


async def test_unacked_record_is_kombus(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    data = find_vector("15")
    [[command, key, tag, value]] = data["first_HSET_command"]
    envelope, _exchange, _routing_key = json.loads(value)
    transport = make_transport()
    transport.publish_raw(json.dumps(envelope).encode(), "celery")
    before = time.time()
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    assert delivery.tag == tag
    assert delivery.message is not None
    assert delivery.message.headers["id"] == envelope["headers"]["id"]
    assert (command, key) == ("HSET", "unacked")
    assert rclient.hget(f"{prefix}unacked", tag) == value.encode()
    score = rclient.zscore(f"{prefix}unacked_index", tag)
    assert score is not None and before - 1 < score < time.time() + 1
    assert rclient.llen(f"{prefix}celery") == 0
    await transport.ack([delivery])
    assert rclient.hget(f"{prefix}unacked", tag) is None
    assert rclient.zscore(f"{prefix}unacked_index", tag) is None
    await transport.aclose()


async def test_restore_pushes_what_kombu_pushes(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """An expired unacked record goes back exactly as kombu's restore RPUSHes it."""
    data = find_vector("15")
    [restored] = data["restore_on_shutdown"]
    kombu_record = {
        tag: record
        for tag, record in data["unacked_hash_snapshot"].items()
        if record[0]["headers"]["eta"] is not None
    }
    [(tag, record)] = kombu_record.items()
    rclient.hset(f"{prefix}unacked", tag, json.dumps(record))
    rclient.zadd(f"{prefix}unacked_index", {tag: time.time() - 100})
    transport = make_transport(visibility_timeout=10)
    assert await transport.restore_visible() == 1
    assert (restored["command"], restored["key"]) == ("RPUSH", "celery")
    assert rclient.lrange(f"{prefix}celery", 0, -1) == [restored["raw"].encode()]
    assert rclient.hlen(f"{prefix}unacked") == 0
    assert rclient.zcard(f"{prefix}unacked_index") == 0
    await transport.aclose()


async def test_every_key_carries_the_prefix(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport(max_deliveries=1)
    # A queue name of its own: other tests share this database, and Celery (or a test that
    # runs without a prefix) may leave "celery" or "unacked" there at any time.
    queue = f"layout-{uuid.uuid4().hex[:8]}"
    envelope = find_vector("01")["messages"][0]["envelope"]
    fresh = message_of(envelope)
    fresh.properties = {k: v for k, v in fresh.properties.items() if k != "delivery_tag"}
    transport.publish(message_of(envelope), queue)
    transport.publish(fresh, queue)
    later = message_of(envelope)
    later.properties = {k: v for k, v in later.properties.items() if k != "delivery_tag"}
    transport.publish(later, queue, eta=time.time() + 60)
    transport.publish_raw(b"garbage", queue)
    deliveries = await transport.fetch([queue], 10, 1.0)
    assert deliveries[3].message is None  # the garbage stays leased in celeriac.unacked_raw
    assert await transport.defer(deliveries[2], time.time() + 60)  # parked in <queue>·eta
    await transport.dead_letter(deliveries[0], "test")
    await transport.aclose()
    keys = {key.decode("latin-1") for key in rclient.keys("*")}
    ours = {key for key in keys if key.startswith(prefix)}
    assert {k[len(prefix) :] for k in ours} >= {
        f"_kombu.binding.{queue}",
        f"_kombu.binding_permanent.{queue}",
        "unacked",
        "unacked_index",
        f"{queue}{SEP}eta",
        "celeriac.dead_letters",
        "celeriac.owners",
        "celeriac.deliveries",
        "celeriac.unacked_raw",
        "celeriac.unacked_raw_index",
    }
    # Nothing of this test outside the prefix: no key named after its queue, and none of
    # its delivery tags in the shared, unprefixed kombu hashes.
    assert not {queue, f"_kombu.binding.{queue}", f"{queue}{SEP}eta"} & keys
    tags = [delivery.tag.encode() for delivery in deliveries]
    assert not any(rclient.hexists("unacked", tag) for tag in tags)
    assert not any(rclient.zscore("unacked_index", tag) is not None for tag in tags)


async def test_eta_is_listed_like_celery_then_parked_in_a_sorted_set(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport()
    envelope = find_vector("01")["messages"][0]["envelope"]
    eta = time.time() + 30
    transport.publish(message_of(envelope), "celery", eta=eta)
    assert rclient.llen(f"{prefix}celery") == 1  # where a Celery worker looks
    [early] = await transport.fetch(["celery"], 10, 1.0)
    assert await transport.defer(early, eta)
    [(member, score)] = rclient.zrange(f"{prefix}celery{SEP}eta", 0, -1, withscores=True)
    assert score == pytest.approx(eta)
    stored = json.loads(member)["properties"]["delivery_tag"]
    assert stored == envelope["properties"]["delivery_tag"]
    assert rclient.llen(f"{prefix}celery") == 0
    assert transport.queue_length("celery") == 1
    assert transport.purge("celery") == 1
    assert rclient.exists(f"{prefix}celery{SEP}eta") == 0


def test_publish_survives_a_killed_producer_connection(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    def message(task_id: str) -> Message:
        return Message(
            body=b"[[], {}, {}]",
            headers={"task": "tasks.x", "id": task_id},
            properties={"correlation_id": task_id},
        )

    transport = make_transport()
    queue = f"q{uuid.uuid4().hex[:6]}"
    transport.publish(message("a"), queue)  # declares the queue
    transport.publish(message("b"), queue)  # a plain LPUSH on the thread's own connection
    conn = transport._pushers.conn
    host, port = conn._sock.getsockname()[:2]
    assert rclient.client_kill(f"{host}:{port}")
    transport.publish(message("c"), queue)  # falls back to redis-py's path, then goes on
    transport.publish(message("d"), queue)
    ids = [json.loads(raw)["headers"]["id"] for raw in rclient.lrange(prefix + queue, 0, -1)]
    assert sorted(ids) == ["a", "b", "c", "d"]
