#!/usr/bin/env python3
"""One in-process consumer (as a prefork child runs it) draining N tasks from RabbitMQ.

Publishes N no-op tasks (``def`` or ``async def``) to a fresh vhost, then drains them with
a :class:`~celeriac.worker.consumer.Consumer` with ``concurrency=1``, ``burst=True`` and
inline sync bodies, results in Redis (db 11). Prints the publish rate, the drain rate and
the process CPU per task; ``--profile`` adds cProfile's busiest functions::

    python benchmarks/amqp_consumer_cpu.py def --tasks 3000
    python benchmarks/amqp_consumer_cpu.py async --tasks 3000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

import redis
from common import recreate_vhost

from celeriac import Celery
from celeriac.worker.consumer import Consumer, ConsumerConfig

VHOST = "celeriac-consumer-cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("body", choices=["def", "async"])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--prefetch-multiplier", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    recreate_vhost(VHOST)
    redis.Redis(db=11).flushdb()
    app = Celery(
        "bench",
        broker=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
        backend="redis://127.0.0.1:6379/11",
    )

    @app.task(name="noop")
    def noop() -> None:
        return None

    @app.task(name="anoop")
    async def anoop() -> None:
        return None

    task = noop if args.body == "def" else anoop
    started = time.perf_counter()
    for _ in range(args.tasks):
        task.delay()
    print(f"publish {args.tasks / (time.perf_counter() - started):.0f}/s")
    app.close()
    config = ConsumerConfig(
        queues=["celery"],
        hostname="bench@x",
        concurrency=1,
        burst=True,
        fetch_timeout=0.05,
        prefetch_multiplier=args.prefetch_multiplier,
    )
    config.inline_sync = app.conf.worker_inline_sync
    consumer = Consumer(app, config)
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    asyncio.run(consumer.run())
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stored = redis.Redis(db=11).dbsize()
    print(
        f"drain {args.tasks / wall:.0f}/s, {cpu / args.tasks * 1e6:.0f} us CPU per task,"
        f" {stored} results"
    )
    if profile is not None:
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
