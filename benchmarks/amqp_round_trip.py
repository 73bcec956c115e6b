"""Where one RabbitMQ round trip goes: celeriac, Celery 5.7 and the floor, by stage.

W3 of ``amqp_bench.py`` times ``delay().get()`` as a whole. This benchmark splits each
round trip in three with one clock (``time.time()``, all processes on this machine): the
task returns the time its body started, so

* **publish**: ``delay()`` called → ``delay()`` returned (celeriac: RabbitMQ confirmed it;
  Celery: sent, no confirms);
* **to start**: ``delay()`` returned → the body started;
* **back**: the body started → ``get()`` returned (the result stored in Redis, its
  PUBLISH read by the waiting client).

The **floor** is the same round trip with no task framework at all: a plain aiormq
publisher that does not wait for a confirm (Celery's default sends without confirms;
celeriac's ``delay()`` pipelines its confirms, see docs/brokers.md), a plain aiormq
consumer (another process, prefetch 4, late ack) that writes a Redis key and PUBLISHes
it, and a client waiting on the pub/sub channel.
What a task queue adds on top of this is its own cost; the floor is what RabbitMQ, Redis,
loopback TCP and asyncio cost on this machine.

Workers are prefork ``--concurrency 2`` (as in ``amqp_bench.py``) unless ``--pool`` says
otherwise; the vhost ``celeriac-rt`` is recreated and Redis database 12 flushed first.

Usage::

    python benchmarks/amqp_round_trip.py [--calls 1000] [--runs 3] [--pool prefork -c 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from common import Worker, machine, recreate_vhost, run_role

VHOST = os.environ.get("AMQP_RT_VHOST", "celeriac-rt")
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
REDIS_DB = int(os.environ.get("AMQP_RT_REDIS_DB", "12"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
FLOOR_QUEUE = "floor"
WARMUP = 50

APP_SOURCE = '''
"""Round-trip benchmark: RabbitMQ broker, Redis results; the task returns its start time."""
import time

from {module} import Celery

app = Celery("rtapp", broker="{broker}", backend="{backend}")


@app.task
def stamp():
    return time.time()
'''


def _summary(rows: list[tuple[float, ...]]) -> dict[str, float]:
    publish, start, back, total = (sorted(column) for column in zip(*rows, strict=True))
    return {
        "publish_ms": statistics.median(publish),
        "to_start_ms": statistics.median(start),
        "back_ms": statistics.median(back),
        "p50_ms": statistics.median(total),
        "p99_ms": total[min(len(total) - 1, int(len(total) * 0.99))],
    }


def _row(called: float, returned: float, started: float, done: float) -> tuple[float, ...]:
    """One round trip's publish, to start, back and total, in ms."""
    return tuple(
        (end - begin) * 1e3
        for begin, end in ((called, returned), (returned, started), (started, done), (called, done))
    )


# -- roles run in a fresh interpreter ---------------------------------------------------------
def role_tasks(calls: int) -> dict[str, float]:
    """``stamp.delay().get()`` against a running worker, split by stage."""
    import rtapp  # type: ignore[import-not-found]

    rtapp.stamp.delay().get(timeout=120)
    rows = []
    for n in range(WARMUP + calls):
        called = time.time()
        result = rtapp.stamp.delay()
        returned = time.time()
        started = float(result.get(timeout=30))
        done = time.time()
        if n >= WARMUP:
            rows.append(_row(called, returned, started, done))
    return _summary(rows)


async def _floor_server() -> None:
    import aiormq
    import redis.asyncio

    connection = await aiormq.connect(AMQP_URL)
    channel = await connection.channel()
    await channel.queue_declare(FLOOR_QUEUE, durable=True)
    await channel.basic_qos(prefetch_count=4)
    results = redis.asyncio.Redis(db=REDIS_DB)

    async def on_message(message: Any) -> None:
        key = message.body.decode()
        value = repr(time.time()).encode()
        async with results.pipeline(transaction=False) as pipe:
            pipe.set(key, value)
            pipe.publish(key, value)
            await pipe.execute()
        await channel.basic_ack(message.delivery.delivery_tag)

    await channel.basic_consume(FLOOR_QUEUE, on_message)
    print("ready", flush=True)
    await asyncio.Future()


def role_floor_server() -> None:
    """The floor's consumer: aiormq, late ack, the result written to Redis."""
    asyncio.run(_floor_server())


async def _floor_client(calls: int) -> dict[str, float]:
    import aiormq
    import redis.asyncio

    connection = await aiormq.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=False)
    await channel.queue_declare(FLOOR_QUEUE, durable=True)
    # The asyncio client: a blocking wait would stop aiormq's writer task, and the publish
    # (queued for it) would never leave.
    waiting = redis.asyncio.Redis(db=REDIS_DB).pubsub(ignore_subscribe_messages=True)
    persistent = aiormq.spec.Basic.Properties(delivery_mode=2)
    rows = []
    for n in range(WARMUP + calls):
        key = f"floor-{n}"
        await waiting.subscribe(key)
        called = time.time()
        await channel.basic_publish(key.encode(), routing_key=FLOOR_QUEUE, properties=persistent)
        returned = time.time()
        message = None
        while message is None:
            message = await waiting.get_message(timeout=5)
        done = time.time()
        await waiting.unsubscribe(key)
        started = float(message["data"])
        if n >= WARMUP:
            rows.append(_row(called, returned, started, done))
    await connection.close()
    return _summary(rows)


def role_floor_client(calls: int) -> dict[str, float]:
    """The floor's producer: aiormq without confirms, waiting on Redis pub/sub."""
    return asyncio.run(_floor_client(calls))


# -- scenarios --------------------------------------------------------------------------------
def reset() -> None:
    recreate_vhost(VHOST)
    import redis

    redis.Redis(db=REDIS_DB).flushdb()


def tasks(module: str, calls: int, pool: list[str]) -> dict[str, float]:
    reset()
    directory = Path(tempfile.mkdtemp(prefix=f"amqprt-{module}-"))
    source = APP_SOURCE.format(module=module, broker=AMQP_URL, backend=REDIS_URL)
    (directory / "rtapp.py").write_text(textwrap.dedent(source))
    command = [sys.executable, "-m", module, "-A", "rtapp", "worker", *pool, "-l", "WARNING"]
    worker = Worker(command, directory)
    try:
        return run_role(__file__, directory, "tasks", "--calls", str(calls))
    finally:
        worker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def floor(calls: int) -> dict[str, float]:
    reset()
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "floor-server"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        return run_role(__file__, Path.cwd(), "floor-client", "--calls", str(calls))
    finally:
        server.terminate()
        server.wait(timeout=10)


COLUMNS = [
    ("publish_ms", "publish"),
    ("to_start_ms", "to start"),
    ("back_ms", "back"),
    ("p50_ms", "p50"),
    ("p99_ms", "p99"),
]


def table(medians: dict[str, dict[str, float]]) -> str:
    lines = [
        "| system | " + " | ".join(label for _, label in COLUMNS) + " |",
        "| --- |" + " ---: |" * len(COLUMNS),
    ]
    for system, values in medians.items():
        cells = " | ".join(f"{values[key]:.2f} ms" for key, _ in COLUMNS)
        lines.append(f"| {system} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pool", default="-P prefork -c 2", help="worker pool options")
    parser.add_argument("--systems", default="celery,celeriac,floor", help="comma-separated")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "tasks":
        print(json.dumps(role_tasks(args.calls)))
        return 0
    if args.role == "floor-server":
        role_floor_server()
        return 0
    if args.role == "floor-client":
        print(json.dumps(role_floor_client(args.calls)))
        return 0
    systems = tuple(args.systems.split(","))
    runs: dict[str, list[dict[str, float]]] = {system: [] for system in systems}
    for n in range(args.runs):
        for system in systems:
            print(f"run {n + 1}/{args.runs}: {system}", file=sys.stderr, flush=True)
            if system == "floor":
                runs[system].append(floor(args.calls))
            else:
                runs[system].append(tasks(system, args.calls, args.pool.split()))
    medians = {
        system: {key: statistics.median(run[key] for run in runs[system]) for key, _ in COLUMNS}
        for system in systems
    }
    print(f"\n{machine()}; {args.calls} round trips, pool {args.pool!r}, median of {args.runs}\n")
    print(table(medians))
    if "celery" in medians:
        celery_p50 = medians["celery"]["p50_ms"]
        for system in systems[1:]:
            ratio = medians[system]["p50_ms"] / celery_p50
            print(f"{system} p50 / Celery p50 = {ratio:.2f}x")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"runs": runs, "median": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
