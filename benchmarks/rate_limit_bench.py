"""Benchmark rate limits: the cost of a global slot per broker, the per-task check, the accuracy.

1. ``acquire_rate`` reservations per second on each broker (memory, SQLite, Redis), one
   asyncio caller in a loop: the ceiling of a ``rate_limit_scope='global'`` rate per
   worker process.
2. The worker's per-task rate-limit decision (``RateLimits.limited``) for an unlimited
   task, in microseconds: what every task pays for the feature.
3. Accuracy: N tasks at R/s global across two real ``-P prefork -c 2`` workers on SQLite:
   the achieved rate (first to last run) against the configured one.

Usage: ``python benchmarks/rate_limit_bench.py [--tasks 100] [--rate 50]`` (Redis at
``127.0.0.1:6379`` database 12 for step 1; skipped when it is down).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from celeriac import Celery
from celeriac.transports.base import Transport, TransportOptions
from celeriac.worker.rate_limits import RateLimits


async def _reservations(transport: Transport, seconds: float = 1.0) -> float:
    key = f"bench:{uuid.uuid4().hex}"
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await transport.acquire_rate(key, 1e9, 1)  # never makes anyone wait
        done += 1
    await transport.aclose()
    return done / (time.perf_counter() - started)


def step_reservations(directory: Path) -> None:
    from celeriac.transports.memory import MemoryTransport
    from celeriac.transports.sqlite import SQLiteTransport

    brokers: list[tuple[str, Transport]] = [
        ("memory", MemoryTransport("memory://bench")),
        ("sqlite", SQLiteTransport(f"sqlite:///{directory / 'bench.db'}")),
    ]
    try:
        import redis

        from celeriac.transports.redis import RedisTransport

        redis.Redis.from_url("redis://127.0.0.1:6379/12").ping()
        prefix = f"bench{uuid.uuid4().hex[:6]}_"
        options = TransportOptions(extra={"global_keyprefix": prefix})
        brokers.append(("redis", RedisTransport("redis://127.0.0.1:6379/12", options)))
    except Exception as exc:  # Redis down or not installed
        print(f"redis: skipped ({exc!r})")
    for name, transport in brokers:
        rate = asyncio.run(_reservations(transport))
        print(f"acquire_rate on {name:7s}: {rate:10,.0f} reservations/s (one caller)")


def step_decision() -> None:
    app = Celery("bench", broker="memory://bench-decision")

    @app.task
    def free() -> None:
        return None

    limits = RateLimits(app, app.transport)
    rounds = 200_000
    started = time.perf_counter()
    for _ in range(rounds):
        limits.limited(free)
    per_call = (time.perf_counter() - started) / rounds * 1e6
    print(f"RateLimits.limited() for an unlimited task: {per_call:.2f} µs per task")


TASKS = """
import os, time
from celeriac import Celery

app = Celery("benchapp", broker="sqlite:///{db}", backend="sqlite:///{db}")


@app.task(rate_limit="{rate}/s", rate_limit_scope="global")
def limited(n):
    return time.time()
"""


def step_accuracy(directory: Path, tasks: int, rate: int) -> None:
    db = directory / "accuracy.db"
    (directory / "benchapp.py").write_text(textwrap.dedent(TASKS.format(db=db, rate=rate)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "celeriac",
        "-A",
        "benchapp",
        "worker",
        "-P",
        "prefork",
        "-c",
        "2",
        "--loglevel",
        "WARNING",
    ]
    workers = [
        subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        app = Celery("producer", broker=f"sqlite:///{db}", backend=f"sqlite:///{db}")
        time.sleep(3)  # let both workers start
        results = [app.send_task("benchapp.limited", (n,)) for n in range(tasks)]
        stamps = sorted(r.get(timeout=tasks / rate * 3 + 30) for r in results)
        achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        print(
            f"{tasks} tasks at {rate}/s global over 2 prefork workers (-c 2): "
            f"achieved {achieved:.2f}/s ({achieved / rate:.1%} of the limit)"
        )
        app.close()
    finally:
        for proc in workers:
            os.killpg(proc.pid, 9)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rate", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        step_reservations(directory)
        step_decision()
        step_accuracy(directory, args.tasks, args.rate)


if __name__ == "__main__":
    main()
