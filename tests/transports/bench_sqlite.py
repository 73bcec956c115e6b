"""Measure the SQLite broker: publish rate, fetch+ack rate, idle CPU and wake-up latency.

Run: ``python tests/transports/bench_sqlite.py [N]`` (not collected by pytest).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time

from celeriac.protocol.message import Message
from celeriac.transports.sqlite import SQLiteTransport


def _message(i: int) -> Message:
    return Message(
        body=b'[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
        headers={"lang": "py", "task": "tasks.add", "id": f"task-{i}", "retries": 0},
        properties={"correlation_id": f"task-{i}", "reply_to": "r"},
    )


def bench_publish(url: str, n: int) -> float:
    transport = SQLiteTransport(url)
    messages = [_message(i) for i in range(n)]
    transport.publish(messages[0], "warmup")
    start = time.perf_counter()
    for message in messages:
        transport.publish(message, "celery")
    elapsed = time.perf_counter() - start
    transport.close()
    return n / elapsed


async def bench_fetch_ack(url: str, n: int, batch: int) -> float:
    transport = SQLiteTransport(url)
    await transport.open()
    done = 0
    start = time.perf_counter()
    while done < n:
        deliveries = await transport.fetch(["celery"], batch, 1.0)
        if not deliveries:
            break
        await transport.ack(deliveries)
        done += len(deliveries)
    elapsed = time.perf_counter() - start
    await transport.aclose()
    assert done == n, done
    return n / elapsed


async def bench_idle(url: str, seconds: float) -> float:
    transport = SQLiteTransport(url)
    await transport.open()
    cpu = time.process_time()
    wall = time.perf_counter()
    end = wall + seconds
    while time.perf_counter() < end:
        await transport.fetch(["idle"], 10, 0.5)
    share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    await transport.aclose()
    return share


async def bench_latency(url: str, rounds: int, same_instance: bool, gap: float) -> list[float]:
    consumer = SQLiteTransport(url)
    producer = consumer if same_instance else SQLiteTransport(url)
    await consumer.open()
    latencies = []
    for i in range(rounds):
        sent: list[float] = []

        def send(i: int = i, sent: list[float] = sent) -> None:
            time.sleep(gap)
            sent.append(time.perf_counter())
            producer.publish(_message(i), "lat")

        thread = threading.Thread(target=send)
        thread.start()
        deliveries = await consumer.fetch(["lat"], 1, 5.0)
        got = time.perf_counter()
        thread.join()
        assert deliveries
        await consumer.ack(deliveries)
        latencies.append((got - sent[0]) * 1000)
    await consumer.aclose()
    return latencies


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        print(f"publish:    {bench_publish(url, n):8.0f} msg/s  ({n} messages, 1 tx each)")
        for batch in (100,):
            rate = asyncio.run(bench_fetch_ack(url, n, batch))
            print(f"fetch+ack:  {rate:8.0f} msg/s  (batches of {batch})")
        share = asyncio.run(bench_idle(url, 5.0))
        print(f"idle CPU:   {share * 100:8.2f} % of a core (fetch loop, 5 s)")
        for same, gap, label in (
            (True, 0.01, "same transport, busy"),
            (False, 0.01, "other connection, recently busy"),
            (False, 1.0, "other connection, idle 1 s"),
        ):
            lat = asyncio.run(bench_latency(url, 10 if gap >= 1 else 30, same, gap))
            print(
                f"wake-up:    median {statistics.median(lat):6.2f} ms, max {max(lat):6.2f} ms"
                f"  ({label})"
            )


if __name__ == "__main__":
    main()
