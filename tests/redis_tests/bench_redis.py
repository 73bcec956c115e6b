"""Measure the Redis broker: publish rate, fetch+ack rate (1 and 2 processes), idle cost, pick-up.

Run: ``python tests/redis/bench_redis.py [N] [redis://host:port/db]`` (not collected by
pytest). Uses a fresh key prefix on the given database (default db 14) and deletes its keys.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
import uuid
from typing import Any

import redis

from celeriac.protocol.message import Message
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport

SPAWN = multiprocessing.get_context("spawn")


def _message(i: int) -> Message:
    return Message(
        body=b'[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
        headers={"lang": "py", "task": "tasks.add", "id": f"task-{i}", "retries": 0},
        properties={"correlation_id": f"task-{i}", "reply_to": "r"},
    )


def _transport(url: str, prefix: str) -> RedisTransport:
    return RedisTransport(url, TransportOptions(extra={"global_keyprefix": prefix}))


def bench_publish(url: str, prefix: str, n: int) -> float:
    transport = _transport(url, prefix)
    messages = [_message(i) for i in range(n)]
    transport.publish(messages[0], "warmup")
    start = time.perf_counter()
    for message in messages:
        transport.publish(message, "celery")
    elapsed = time.perf_counter() - start
    transport.close()
    return n / elapsed


async def _drain(url: str, prefix: str, batch: int, stop_after_idle: float) -> tuple[int, float]:
    transport = _transport(url, prefix)
    await transport.open()
    done = 0
    start = last = time.perf_counter()
    while True:
        deliveries = await transport.fetch(["celery"], batch, stop_after_idle)
        if not deliveries:
            break
        await transport.ack(deliveries)
        done += len(deliveries)
        last = time.perf_counter()
    await transport.aclose()
    transport.close()
    return done, last - start


def _drain_child(url: str, prefix: str, batch: int, out: Any, go: Any) -> None:
    go.wait()
    out.put(asyncio.run(_drain(url, prefix, batch, 0.3)))


def bench_fetch_ack(url: str, prefix: str, n: int, batch: int, processes: int) -> float:
    producer = _transport(url, prefix)
    for i in range(n):
        producer.publish(_message(i), "celery")
    producer.close()
    out, go = SPAWN.Queue(), SPAWN.Event()
    children = [
        SPAWN.Process(target=_drain_child, args=(url, prefix, batch, out, go))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    time.sleep(1.0)  # let them import
    start = time.perf_counter()
    go.set()
    results = [out.get(timeout=300) for _ in children]
    for child in children:
        child.join(30)
    total = sum(done for done, _ in results)
    elapsed = max(seconds for _, seconds in results)
    assert total == n, (total, n)
    del start
    return n / elapsed


async def bench_idle(url: str, prefix: str, seconds: float) -> float:
    transport = _transport(url, prefix)
    await transport.open()
    cpu = time.process_time()
    wall = time.perf_counter()
    end = wall + seconds
    while time.perf_counter() < end:
        await transport.fetch(["idle"], 10, 1.0)
    share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    await transport.aclose()
    return share


def _publish_later(url: str, prefix: str, rounds: int, gap: float, out: Any) -> None:
    producer = _transport(url, prefix)
    producer.publish(_message(-1), "warm")
    for i in range(rounds):
        time.sleep(gap)
        message = _message(i)
        message.headers["sent"] = time.time()
        producer.publish(message, "lat")
    producer.close()
    out.put(True)


async def bench_pickup(url: str, prefix: str, rounds: int, gap: float) -> list[float]:
    """Time from a producer in another process calling publish() to fetch() returning."""
    consumer = _transport(url, prefix)
    await consumer.open()
    out = SPAWN.Queue()
    child = SPAWN.Process(target=_publish_later, args=(url, prefix, rounds, gap, out))
    child.start()
    latencies: list[float] = []
    while len(latencies) < rounds:
        deliveries = await consumer.fetch(["lat"], 10, 5.0)
        now = time.time()
        for delivery in deliveries:
            assert delivery.message is not None
            latencies.append((now - delivery.message.headers["sent"]) * 1000)
        await consumer.ack(deliveries)
    child.join(30)
    await consumer.aclose()
    return latencies


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    url = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/14"
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    try:
        print(f"publish:     {bench_publish(url, prefix, n):8.0f} msg/s  ({n}, one LPUSH each)")
        redis.Redis.from_url(url).delete(f"{prefix}celery")
        for processes in (1, 2):
            rate = bench_fetch_ack(url, prefix, n, 100, processes)
            print(f"fetch+ack:   {rate:8.0f} msg/s  ({processes} process(es), batches of 100)")
        share = asyncio.run(bench_idle(url, prefix, 5.0))
        print(f"idle CPU:    {share * 100:8.2f} % of a core (one consumer waiting, 5 s)")
        lat = sorted(asyncio.run(bench_pickup(url, prefix, 200, 0.02)))
        print(
            f"pick-up:     p50 {statistics.median(lat):.2f} ms, p90 {lat[int(len(lat) * 0.9)]:.2f}"
            f" ms, max {lat[-1]:.2f} ms (publish() in another process -> fetch() returns)"
        )
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)


if __name__ == "__main__":
    main()
