"""What the Redis broker promises beyond the contract: nothing lost, leases, ETA, limits."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis_support import OwnRedis

from celeriac.exceptions import BrokerError
from celeriac.protocol.message import Message
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport

SEP = "\x06\x16"
SPAWN = multiprocessing.get_context("spawn")


def message(n: int | str, task: str = "tasks.echo") -> Message:
    return Message(
        body=b'[[1], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
        headers={"lang": "py", "task": task, "id": f"task-{n}", "retries": 0},
        properties={"correlation_id": f"task-{n}"},
    )


def ids(deliveries: list[Any]) -> list[str]:
    return [d.message.headers["id"] for d in deliveries]


# -- atomic consume: a consumer dying with a message in flight loses nothing -------------
async def test_dead_consumers_inflight_message_comes_back(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    """BLMOVE moved a message to a consumer's inflight list and it died before LEASE."""
    dead, survivor = make_transport(), make_transport()
    dead.publish(message(1), "celery")
    member = f"{dead.consumer_id}{SEP}celery"
    inflight = f"{prefix}celeriac.inflight{SEP}{member}"
    assert rclient.lmove(f"{prefix}celery", inflight, "RIGHT", "LEFT") is not None
    rclient.zadd(f"{prefix}celeriac.consumers", {member: time.time() - 1})  # heartbeat gone
    [delivery] = await survivor.fetch(["celery"], 10, 2.0)
    assert ids([delivery]) == ["task-1"]
    assert delivery.delivery_count == 1
    assert rclient.exists(inflight) == 0
    assert rclient.zscore(f"{prefix}celeriac.consumers", member) is None
    await survivor.ack([delivery])
    await survivor.aclose()


async def test_a_live_consumers_inflight_message_stays_its_own(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    owner, other = make_transport(), make_transport()
    owner.publish(message(1), "celery")
    assert await owner.fetch(["other"], 1, 0) == []
    member = f"{owner.consumer_id}{SEP}celery"
    rclient.lmove(f"{prefix}celery", f"{prefix}celeriac.inflight{SEP}{member}", "RIGHT", "LEFT")
    rclient.zadd(f"{prefix}celeriac.consumers", {member: time.time() + 30})
    assert await other.fetch(["celery"], 10, 0.3) == []
    [delivery] = await owner.fetch(["celery"], 10, 1.0)  # its next lease takes it first
    assert ids([delivery]) == ["task-1"]
    await owner.ack([delivery])
    await owner.aclose()
    await other.aclose()


def _lease_and_hang(url: str, prefix: str, count: int, ready: Any, out: Any) -> None:
    async def run() -> None:
        options = TransportOptions(extra={"global_keyprefix": prefix})
        transport = RedisTransport(url, options)
        taken = await transport.fetch(["celery"], count, 5.0)
        out.put((transport.consumer_id, [d.tag for d in taken]))
        ready.set()
        await asyncio.sleep(60)

    asyncio.run(run())


@pytest.mark.slow
async def test_killed_worker_leases_return_after_visibility_timeout(
    make_transport: Callable[..., RedisTransport], broker_url: str, prefix: str
) -> None:
    producer = make_transport()
    for n in range(3):
        producer.publish(message(n), "celery")
    ready, out = SPAWN.Event(), SPAWN.Queue()
    child = SPAWN.Process(target=_lease_and_hang, args=(broker_url, prefix, 3, ready, out))
    child.start()
    assert ready.wait(20)
    _consumer, tags = out.get(timeout=5)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert len(tags) == 3
    survivor = make_transport(visibility_timeout=1.0)
    assert await survivor.fetch(["celery"], 10, 0.3) == []
    started = time.monotonic()
    again = await survivor.fetch(["celery"], 10, 5.0)
    assert sorted(ids(again)) == ["task-0", "task-1", "task-2"]
    assert [d.delivery_count for d in again] == [2, 2, 2]
    assert time.monotonic() - started < 3.0
    await survivor.ack(again)
    await survivor.aclose()


@pytest.mark.slow
async def test_recover_gives_back_a_killed_childs_leases_at_once(
    make_transport: Callable[..., RedisTransport], broker_url: str, prefix: str
) -> None:
    """What a prefork parent does: only the task it was running counts as delivered."""
    producer = make_transport()
    for n in range(3):
        producer.publish(message(n), "celery")
    ready, out = SPAWN.Event(), SPAWN.Queue()
    child = SPAWN.Process(target=_lease_and_hang, args=(broker_url, prefix, 3, ready, out))
    child.start()
    assert ready.wait(20)
    consumer, tags = out.get(timeout=5)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    parent = make_transport()
    assert await parent.recover(consumer, running={tags[0]}) == 3
    again = await parent.fetch(["celery"], 10, 1.0)
    assert ids(again) == ["task-0", "task-1", "task-2"]
    assert [d.delivery_count for d in again] == [2, 1, 1]
    await parent.ack(again)
    await parent.aclose()


async def test_a_lost_lease_reply_is_given_back(
    make_transport: Callable[..., RedisTransport],
) -> None:
    """If the connection drops after LEASE ran, the next fetch reclaims what it leased."""
    transport = make_transport()
    for n in range(2):
        transport.publish(message(n), "celery")
    await transport.fetch(["celery"], 10, 1.0)
    transport._held.clear()  # as if the reply never arrived
    transport._orphans_possible = True
    again = await transport.fetch(["celery"], 10, 1.0)
    assert ids(again) == ["task-0", "task-1"]
    assert [d.delivery_count for d in again] == [1, 1]
    await transport.ack(again)
    await transport.aclose()


# -- waking and closing ---------------------------------------------------------------------
async def test_close_unblocks_at_once_and_leaves_nothing_in_flight(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport()
    waiting = asyncio.create_task(transport.fetch(["celery", "other"], 10, 30.0))
    await asyncio.sleep(0.2)
    waiting.cancel()
    started = time.monotonic()
    await transport.aclose()
    assert time.monotonic() - started < 0.5
    assert rclient.zcard(f"{prefix}celeriac.consumers") == 0
    assert not list(rclient.scan_iter(match=f"{prefix}celeriac.inflight*"))
    transport.publish(message(1), "celery")
    assert transport.queue_length("celery") == 1


async def test_wakes_for_each_consumed_queue(
    make_transport: Callable[..., RedisTransport],
) -> None:
    """Each queue's plain list has a blocker: no waiting for the 2 s poll set here."""
    consumer, producer = make_transport(polling_interval=2.0), make_transport()
    for queue in ("a", "b", "c"):
        waiting = asyncio.create_task(consumer.fetch(["a", "b", "c"], 10, 5.0))
        await asyncio.sleep(0.3)
        sent = time.monotonic()
        await asyncio.to_thread(producer.publish, message(queue), queue)
        deliveries = await waiting
        assert ids(deliveries) == [f"task-{queue}"]
        assert deliveries[0].queue == queue
        assert time.monotonic() - sent < 0.5
        await consumer.ack(deliveries)
    await consumer.aclose()


async def test_pick_up_latency_on_an_idle_consumer(
    make_transport: Callable[..., RedisTransport],
) -> None:
    consumer, producer = make_transport(), make_transport()
    latencies = []
    for n in range(20):
        waiting = asyncio.create_task(consumer.fetch(["celery"], 10, 5.0))
        await asyncio.sleep(0.02)
        sent = await asyncio.to_thread(_publish_stamped, producer, n)
        deliveries = await waiting
        latencies.append(time.perf_counter() - sent)
        await consumer.ack(deliveries)
    assert statistics.median(latencies) < 0.01, latencies
    await consumer.aclose()


def _publish_stamped(producer: RedisTransport, n: int) -> float:
    sent = time.perf_counter()
    producer.publish(message(n), "celery")
    return sent


# -- ETA ------------------------------------------------------------------------------------
async def test_an_eta_another_producer_adds_is_noticed_while_waiting(
    make_transport: Callable[..., RedisTransport],
) -> None:
    consumer, producer = make_transport(), make_transport()
    waiting = asyncio.create_task(consumer.fetch(["celery"], 10, 5.0))
    await asyncio.sleep(0.1)
    eta = time.time() + 0.5
    producer.publish(message("later"), "celery", eta=eta)
    [early] = await waiting  # listed like Celery's: the waiting consumer parks it
    assert await consumer.defer(early, eta)
    deliveries = await consumer.fetch(["celery"], 10, 5.0)
    assert ids(deliveries) == ["task-later"]
    assert eta <= time.time() < eta + 0.4
    await consumer.ack(deliveries)
    await consumer.aclose()


async def test_a_due_eta_message_goes_to_one_consumer_only(
    make_transport: Callable[..., RedisTransport],
) -> None:
    producer = make_transport()
    eta = time.time() + 0.3
    for n in range(20):
        producer.publish(message(n), "celery", eta=eta)
    consumers = [make_transport() for _ in range(3)]

    async def drain(transport: RedisTransport) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            deliveries = await transport.fetch(["celery"], 3, 0.2)
            seen += ids(deliveries)
            await transport.ack(deliveries)
        return seen

    results = await asyncio.gather(*(drain(c) for c in consumers))
    everything = [task for seen in results for task in seen]
    assert sorted(everything) == sorted(f"task-{n}" for n in range(20))
    for consumer in consumers:
        await consumer.aclose()


async def test_due_eta_messages_keep_their_priority_and_order(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport()
    now = time.time()
    etas = {"task-p9": now + 0.2, "task-late": now + 0.3, "task-early": now + 0.2}
    transport.publish(message("p9"), "celery", priority=9, eta=etas["task-p9"])
    transport.publish(message("late"), "celery", eta=etas["task-late"])
    transport.publish(message("early"), "celery", eta=etas["task-early"])
    for early in await transport.fetch(["celery"], 10, 1.0):  # taken early: parked
        assert await transport.defer(early, etas[ids([early])[0]])
    await asyncio.sleep(0.4)
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    assert ids(deliveries) == ["task-early", "task-late", "task-p9"]
    assert rclient.exists(f"{prefix}celery{SEP}eta") == 0
    await transport.aclose()


# -- delivery limit and dead letters ----------------------------------------------------------
async def test_delivery_limit_dead_letters_to_the_stream(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport(max_deliveries=2)
    transport.publish(message(1, task="tasks.crash"), "celery")
    raw = rclient.lrange(f"{prefix}celery", 0, -1)[0]
    for _ in range(2):
        [delivery] = await transport.fetch(["celery"], 10, 1.0)
        await transport.requeue([delivery], count=True)
    assert await transport.fetch(["celery"], 10, 0.1) == []
    [(_id, fields)] = rclient.xrange(f"{prefix}celeriac.dead_letters")
    assert fields[b"queue"] == b"celery"
    assert fields[b"reason"] == b"delivered 2 times without an ack (task_max_deliveries=2)"
    assert fields[b"task_id"] == b"task-1"
    assert fields[b"task_name"] == b"tasks.crash"
    assert fields[b"delivery_count"] == b"2"
    stored = json.loads(fields[b"payload"])
    assert stored["properties"]["delivery_tag"] == json.loads(raw)["properties"]["delivery_tag"]
    assert abs(float(fields[b"created_at"]) - time.time()) < 5
    assert rclient.hlen(f"{prefix}unacked") == 0
    assert rclient.hlen(f"{prefix}celeriac.deliveries") == 0
    [dead] = transport.dead_letters()
    assert dead.raw == fields[b"payload"]
    await transport.aclose()


async def test_dead_letter_parks_the_stored_envelope(
    make_transport: Callable[..., RedisTransport], rclient: redis.Redis, prefix: str
) -> None:
    transport = make_transport()
    transport.publish(message(1), "celery")
    raw = rclient.lrange(f"{prefix}celery", 0, -1)[0]
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    await transport.dead_letter(delivery, "Received unregistered task of type 'tasks.echo'")
    [dead] = transport.dead_letters()
    assert dead.raw == raw
    assert rclient.hlen(f"{prefix}celeriac.owners") == 0
    await transport.aclose()


# -- connection loss ------------------------------------------------------------------------
async def test_fetch_rides_out_a_redis_restart(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    transport = RedisTransport(own_redis.url, TransportOptions(visibility_timeout=60))
    await transport.open()
    transport.publish(message("before"), "celery")
    assert ids(await transport.fetch(["celery"], 10, 1.0)) == ["task-before"]
    seen: list[str] = []

    async def consume() -> None:
        while "task-after" not in seen:
            deliveries = await transport.fetch(["celery"], 10, 0.3)
            seen.extend(ids(deliveries))
            if deliveries:
                await transport.ack(deliveries)

    caplog.set_level(logging.WARNING, logger="celery.transports.redis")
    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await asyncio.to_thread(own_redis.stop)
    await asyncio.sleep(1.0)
    assert not consumer.done()
    await asyncio.to_thread(own_redis.start)
    await asyncio.to_thread(transport.publish, message("after"), "celery")
    await asyncio.wait_for(consumer, 15)
    assert seen == ["task-after"]
    lost = [r for r in caplog.records if "Cannot reach" in r.getMessage()]
    back = [r for r in caplog.records if "Reconnected" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1
    await transport.aclose()
    transport.close()


async def test_a_blockers_surplus_goes_back_uncounted(
    make_transport: Callable[..., RedisTransport],
) -> None:
    """A blocker's LEASE sent for a bigger fetch hands a smaller one only what it asked."""
    from celeriac.transports.redis.state import Hints as _Hints
    from celeriac.transports.redis.state import Waiter as _Waiter

    transport = make_transport()
    for n in range(3):
        transport.publish(message(n), "celery")
    state = transport._loop_state()
    layout = transport._layout(("celery",))
    taken, _ = await transport._lease(state, layout, 3)
    waiter = _Waiter(layout, 1, time.time() + 5, asyncio.get_running_loop().create_future())
    state.waiters.append(waiter)
    transport._hand_over(state, taken, _Hints())
    assert ids(waiter.future.result()) == ["task-0"]
    await asyncio.gather(*state.background)
    assert transport.queue_length("celery") == 2
    rest = await transport.fetch(["celery"], 10, 1.0)
    assert ids(rest) == ["task-1", "task-2"]
    assert [d.delivery_count for d in rest] == [1, 1]
    await transport.aclose()


@pytest.mark.slow
async def test_nothing_lost_across_a_redis_restart_mid_run(own_redis: OwnRedis) -> None:
    """3,000 messages, Redis (AOF) restarted while producing and consuming: all arrive."""
    total = 3000
    options = TransportOptions(visibility_timeout=2.0)
    consumer = RedisTransport(own_redis.url, options)
    producer = RedisTransport(own_redis.url, options)
    await consumer.open()
    published = threading.Event()

    def produce() -> None:
        for n in range(total):
            while True:
                try:
                    producer.publish(message(n), "celery")
                    break
                except BrokerError:  # what the app's retry_policy does
                    time.sleep(0.05)
            if n == total // 3:
                restart.set()
        published.set()

    restart = threading.Event()
    thread = threading.Thread(target=produce)
    thread.start()
    seen: set[str] = set()
    restarted = False
    deadline = time.monotonic() + 90
    while len(seen) < total and time.monotonic() < deadline:
        if restart.is_set() and not restarted:
            restarted = True
            await asyncio.to_thread(own_redis.stop)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(own_redis.start)
        deliveries = await consumer.fetch(["celery"], 100, 0.5)
        seen.update(ids(deliveries))
        await consumer.ack(deliveries)
    thread.join(30)
    assert restarted and published.is_set()
    assert len(seen) == total, total - len(seen)
    await consumer.aclose()
    consumer.close()
    producer.close()
