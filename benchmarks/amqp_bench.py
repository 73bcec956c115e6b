"""Benchmark celeriac against the real Celery 5.7 on the same local RabbitMQ, in one run.

The workloads of the RabbitMQ issue, each with a real worker process (prefork
``--concurrency 2``) started from a fresh temporary directory holding a ``benchapp.py``
with RabbitMQ as broker (the vhost ``celeriac-bench``, emptied before every scenario) and
Redis as result backend (database 12, flushed before every scenario):

W1  publish rate: one producer process calls ``noop.delay()`` N times (20,000): celeriac
    with publisher confirms (its default), Celery with its default (no confirms);
W2  drain rate of N queued no-op tasks, ``def`` (both) and ``async def`` (celeriac), timed
    as ``redis_bench.py``'s W2: from the first result stamped (its ``date_done``) to the
    last result stored, so neither system's start-up counts; the rate from the start
    command to the last result is reported too;
W3  round trip p50/p99 of 1,000 sequential ``noop.delay().get()``, with Redis results
    and ``rpc://`` results, both systems;
W5  the worker's peak PSS, summed over its processes, during W2 (``def``).

Runs are interleaved (Celery, celeriac, Celery, celeriac …) and the median of ``--runs``
is reported with the ratios and the issue's targets.

Usage::

    python benchmarks/amqp_bench.py [--tasks 20000] [--runs 3] [--latency-calls 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from common import (
    Worker,
    fmt,
    latency_summary,
    machine,
    median_of,
    recreate_vhost,
    run_role,
)

VHOST = os.environ.get("AMQP_BENCH_VHOST", "celeriac-bench")  # one per concurrent run
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('AMQP_BENCH_REDIS_DB', '12')}"

APP_SOURCE = '''
"""Benchmark tasks: RabbitMQ broker, {backend} results."""
from {module} import Celery

app = Celery("benchapp", broker="{broker}", backend="{backend}")


@app.task
def noop():
    return None


@app.task
async def anoop():
    return None
'''


# -- roles run in a fresh interpreter inside the temporary directory ------------------------
def role_publish(count: int, task: str) -> dict[str, Any]:
    """Publish ``count`` calls (the first one, a warm-up, is not timed)."""
    import benchapp  # type: ignore[import-not-found]

    sig = getattr(benchapp, task)
    sig.delay()
    started = time.perf_counter()
    for _ in range(count - 1):
        sig.delay()
    elapsed = time.perf_counter() - started
    return {"rate": (count - 1) / elapsed}


def role_latency(count: int, warmup: int = 50) -> dict[str, Any]:
    """Sequential ``noop.delay().get()`` round trips against a running worker."""
    import benchapp

    benchapp.noop.delay().get(timeout=120)
    for _ in range(warmup):
        benchapp.noop.delay().get(timeout=30)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        benchapp.noop.delay().get(timeout=30)
        samples.append((time.perf_counter() - started) * 1000.0)
    return latency_summary(samples)


# -- the broker and the result store ----------------------------------------------------------
def results() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


def wait_results(expected: int, worker: Worker, timeout: float = 1800) -> float:
    """Wait until Redis holds ``expected`` result keys; return ``perf_counter()`` then."""
    client = results()
    deadline = time.perf_counter() + timeout
    while client.dbsize() < expected:
        if not worker.alive():
            raise RuntimeError(f"worker exited early:\n{worker.log_tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out with {client.dbsize()} of {expected} results")
        time.sleep(0.005)
    return time.perf_counter()


def first_done() -> float:
    """The earliest ``date_done`` of the stored results, as a Unix time."""
    from datetime import UTC, datetime

    client = results()
    first = float("inf")
    keys = list(client.scan_iter("celery-task-meta-*", count=2000))
    for start in range(0, len(keys), 2000):
        for value in client.mget(keys[start : start + 2000]):
            stamp = json.loads(value).get("date_done") if value else None
            if stamp:
                done = datetime.fromisoformat(stamp)
                if done.tzinfo is None:  # Celery and celeriac stamp UTC
                    done = done.replace(tzinfo=UTC)
                first = min(first, done.timestamp())
    return first


def workdir(module: str, backend: str) -> Path:
    recreate_vhost(VHOST)
    results().flushdb()
    directory = Path(tempfile.mkdtemp(prefix=f"amqpbench-{module}-"))
    source = APP_SOURCE.format(module=module, broker=AMQP_URL, backend=backend)
    (directory / "benchapp.py").write_text(textwrap.dedent(source))
    return directory


def worker_args(module: str, concurrency: int) -> list[str]:
    return [
        *(sys.executable, "-m", module, "-A", "benchapp", "worker", "-P", "prefork"),
        *("-c", str(concurrency), "-l", "WARNING"),
    ]


# -- scenarios -----------------------------------------------------------------------------
def publish_drain(module: str, task: str, tasks: int, concurrency: int) -> dict[str, float]:
    """W1 then W2/W5: publish N, then time a fresh worker draining them."""
    directory = workdir(module, REDIS_URL)
    try:
        published = run_role(__file__, directory, "publish", "--tasks", str(tasks), "--task", task)
        worker = Worker(worker_args(module, concurrency), directory)
        worker.sample_memory()
        try:
            last = wait_results(tasks, worker)
            last_wall = time.time() - (time.perf_counter() - last)
        finally:
            worker.stop_sampling()
            worker.stop()
        return {
            "publish_rate": float(published["rate"]),
            "drain_rate": (tasks - 1) / max(1e-9, last_wall - first_done()),
            "drain_rate_incl_startup": tasks / (last - worker.started),
            "peak_pss_mb": worker.peak_pss / 2**20,
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def latency(module: str, backend: str, calls: int, concurrency: int) -> dict[str, float]:
    """W3 against a running worker."""
    directory = workdir(module, backend)
    worker = Worker(worker_args(module, concurrency), directory)
    try:
        summary = run_role(__file__, directory, "latency", "--tasks", str(calls))
        return {"p50_ms": float(summary["p50_ms"]), "p99_ms": float(summary["p99_ms"])}
    finally:
        worker.stop()
        shutil.rmtree(directory, ignore_errors=True)


ROWS = [
    # (key, label, unit, higher is better, target ratio)
    ("publish_rate", "W1 publish rate (celeriac: with confirms)", "tasks/s", True, 2.0),
    ("drain_def", "W2 drain rate, def", "tasks/s", True, 4.0),
    ("drain_async", "W2 drain rate, async def (vs Celery def)", "tasks/s", True, 8.0),
    ("drain_def_startup", "W2 def, start command to last result", "tasks/s", True, None),
    ("drain_async_startup", "W2 async def, start command to last result", "tasks/s", True, None),
    ("p50_redis", "W3 round trip p50, Redis results", "ms", False, 0.5),
    ("p99_redis", "W3 round trip p99, Redis results", "ms", False, None),
    ("p50_rpc", "W3 round trip p50, rpc://", "ms", False, 0.5),
    ("p99_rpc", "W3 round trip p99, rpc://", "ms", False, None),
    ("pss", "W5 worker peak PSS during W2", "MB", False, 0.75),
]


def one_run(system: str, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    sync = publish_drain(system, "noop", args.tasks, args.concurrency)
    out.update(
        publish_rate=sync["publish_rate"],
        drain_def=sync["drain_rate"],
        drain_def_startup=sync["drain_rate_incl_startup"],
        pss=sync["peak_pss_mb"],
    )
    if system == "celeriac":
        drained = publish_drain(system, "anoop", args.tasks, args.concurrency)
    else:
        drained = sync
    out["drain_async"] = drained["drain_rate"]
    out["drain_async_startup"] = drained["drain_rate_incl_startup"]
    redis_rt = latency(system, REDIS_URL, args.latency_calls, args.concurrency)
    out.update(p50_redis=redis_rt["p50_ms"], p99_redis=redis_rt["p99_ms"])
    rpc_rt = latency(system, "rpc://", args.latency_calls, args.concurrency)
    out.update(p50_rpc=rpc_rt["p50_ms"], p99_rpc=rpc_rt["p99_ms"])
    return out


def table(celery: dict[str, float], ours: dict[str, float]) -> str:
    lines = [
        "| workload | Celery 5.7 | celeriac | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label, unit, higher, target in ROWS:
        mine, theirs = ours.get(key), celery.get(key)
        if mine is None or theirs is None:
            ratio_text = "n/a"
        else:
            ratio = mine / theirs
            ok = target is None or (ratio >= target if higher else ratio <= target)
            ratio_text = f"{ratio:.2f}x" + ("" if ok else " (**below target**)")
        goal = "" if target is None else (">= " if higher else "<= ") + f"{target}x"
        lines.append(
            f"| {label} | {fmt(theirs, unit)} | {fmt(mine, unit)} | {ratio_text} | {goal} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="noop", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "publish":
        print(json.dumps(role_publish(args.tasks, args.task)))
        return 0
    if args.role == "latency":
        print(json.dumps(role_latency(args.tasks)))
        return 0
    runs: dict[str, list[dict[str, float]]] = {"celery": [], "celeriac": []}
    for n in range(args.runs):
        for system in ("celery", "celeriac"):
            print(f"run {n + 1}/{args.runs}: {system}", file=sys.stderr, flush=True)
            runs[system].append(one_run(system, args))
    celery, ours = median_of(runs["celery"]), median_of(runs["celeriac"])
    print(f"\n{machine()}; {args.tasks} tasks, median of {args.runs}\n")
    print(table(celery, ours))
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps({"runs": runs, "median": {"celery": celery, "celeriac": ours}}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
