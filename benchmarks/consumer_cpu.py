#!/usr/bin/env python3
"""CPU time per task of one in-process consumer draining N queued tasks (burst mode).

A figure for changes to the worker pipeline that a loaded machine does not blur as much
as wall-clock rates: process CPU time (all threads) divided by the tasks drained. Run it
with each tree first on ``PYTHONPATH``, alternating, and compare medians::

    git archive <commit> src | tar -x -C /tmp/before
    for i in 1 2 3 4 5; do
      PYTHONPATH=/tmp/before/src python benchmarks/consumer_cpu.py memory def
      PYTHONPATH=src python benchmarks/consumer_cpu.py memory def
    done

Prints ``<µs of CPU per task> <tasks per second>``. Transports: ``memory`` (results in
the in-process cache backend: the pipeline's own cost) and ``sqlite`` (a fresh file for
broker and results); bodies: ``def`` (a task thread) or ``async`` (the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from celeriac import Celery
from celeriac.worker.consumer import Consumer, ConsumerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["memory", "sqlite"])
    parser.add_argument("body", choices=["def", "async"])
    parser.add_argument("--tasks", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.transport == "sqlite":
            url = f"sqlite:///{tmp}/bench.sqlite3"
            app = Celery("bench", broker=url, backend=url)
        else:
            app = Celery("bench", broker="memory://", backend="cache+memory://")

        @app.task(name="noop")
        def noop() -> None:
            return None

        @app.task(name="anoop")
        async def anoop() -> None:
            return None

        task = noop if args.body == "def" else anoop
        for _ in range(args.tasks):
            task.delay()
        config = ConsumerConfig(
            queues=["celery"], hostname="bench@x", concurrency=1, burst=True, fetch_timeout=0.05
        )
        consumer = Consumer(app, config)
        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(consumer.run())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        app.close()
    if consumer.processed != args.tasks:
        raise SystemExit(f"drained {consumer.processed} of {args.tasks} tasks")
    print(f"{cpu / args.tasks * 1e6:.1f} {args.tasks / wall:.0f}")


if __name__ == "__main__":
    main()
