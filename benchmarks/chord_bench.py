"""Chord benchmark: a chord of no-op header tasks on Redis, celeriac vs Celery 5.7.

Each system gets a real worker process (prefork, ``--concurrency 2``) started from a fresh
temporary directory holding a ``benchapp.py`` that uses Redis (database 6 by default,
queue ``chordbench``, a fresh ``global_keyprefix`` per run, deleted after it) as broker and
result backend. A producer process waits for the worker (one warm-up task), builds
``chord([noop.si(i) for i in range(N)], count.s())`` with its own package and times
``apply_async()`` → the body's result stored in Redis (seen by polling its key, the same
way for both): publishing the header, every header task, the chord counting and the body.

Runs are interleaved (Celery, celeriac, Celery, celeriac …) and the median of ``--runs``
is reported, with the ratio against the issue's target (celeriac ≤ ⅓ of Celery's time).

Usage::

    python benchmarks/chord_bench.py [--tasks 10000] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import Worker, machine, run_role

REDIS_URL = "redis://127.0.0.1:6379/6"

APP_SOURCE = '''
"""Chord benchmark tasks: broker and results on the same Redis database."""
from {module} import Celery

app = Celery("benchapp", broker="{url}", backend="{url}")
app.conf.task_default_queue = "chordbench"
app.conf.broker_transport_options = {{"global_keyprefix": "{prefix}"}}
app.conf.result_backend_transport_options = {{"global_keyprefix": "{prefix}"}}


@app.task
def noop(i):
    return i


@app.task
def count(values):
    return len(values)
'''

SYSTEMS = {"celery": "celery", "celeriac": "celeriac"}


def role_chord(module: str, tasks: int, url: str, prefix: str) -> dict[str, Any]:
    """Apply the chord with ``module``'s canvas; time apply → the body's result in Redis.

    The end is seen the same way for both systems: a plain ``GET`` of the body's
    ``celery-task-meta-<id>`` key every 2 ms (Celery's ``AsyncResult.get()`` on a chord of
    10,000 spends minutes in the client walking the header's results, which would measure
    the client rather than the workers).
    """
    import benchapp  # type: ignore[import-not-found]
    import redis

    canvas = __import__(module)
    benchapp.noop.delay(0).get(timeout=120)  # the worker is up and warm
    header = [benchapp.noop.si(i) for i in range(tasks)]
    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    result = canvas.chord(header, benchapp.count.s()).apply_async()
    published = time.perf_counter() - started
    key = f"{prefix}celery-task-meta-{result.id}"
    deadline = started + 1800
    while True:
        raw = client.get(key)
        if raw is not None and json.loads(raw)["status"] in ("SUCCESS", "FAILURE"):
            break
        if time.perf_counter() > deadline:
            raise RuntimeError("the chord body did not finish in 30 minutes")
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    meta = json.loads(raw)
    if meta["status"] != "SUCCESS" or meta["result"] != tasks:
        raise RuntimeError(f"chord body: {meta['status']} {meta['result']!r}, expected {tasks}")
    return {"seconds": elapsed, "publish_s": published, "rate": tasks / elapsed}


def flush(url: str, prefix: str) -> None:
    """Delete the run's keys (everything under its ``global_keyprefix``)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=5000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def run_once(system: str, args: argparse.Namespace) -> dict[str, Any]:
    module = SYSTEMS[system]
    directory = Path(tempfile.mkdtemp(prefix=f"chord-{system}-"))
    prefix = f"chordbench{uuid.uuid4().hex[:8]}_"
    (directory / "benchapp.py").write_text(
        APP_SOURCE.format(module=module, url=args.url, prefix=prefix)
    )
    worker = Worker(
        [
            sys.executable,
            "-m",
            module,
            "-A",
            "benchapp",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(args.concurrency),
            "-l",
            "WARNING",
        ],
        directory,
    )
    try:
        outcome = run_role(__file__, directory, "chord", module, str(args.tasks), args.url, prefix)
    finally:
        worker.stop()
        flush(args.url, prefix)
        if not os.environ.get("CELERIAC_BENCH_KEEP"):
            shutil.rmtree(directory, ignore_errors=True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--url", default=REDIS_URL)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("role_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "chord":
        module, tasks, url, prefix = args.role_args
        print(json.dumps(role_chord(module, int(tasks), url, prefix)))
        return
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
    for index in range(args.runs):
        for name in SYSTEMS:
            outcome = run_once(name, args)
            runs[name].append(outcome)
            print(
                f"run {index + 1}/{args.runs} {name:9s} {outcome['seconds']:8.2f} s "
                f"({outcome['rate']:,.0f} header tasks/s; publishing {outcome['publish_s']:.2f} s)",
                flush=True,
            )
    median = {name: statistics.median(r["seconds"] for r in runs[name]) for name in SYSTEMS}
    ratio = median["celeriac"] / median["celery"]
    print()
    print(f"chord of {args.tasks:,} no-op header tasks on Redis, prefork -c {args.concurrency}")
    print(f"machine: {machine()}")
    print(f"{'system':10s} {'apply → body result (median)':>30s} {'header tasks/s':>16s}")
    for name in SYSTEMS:
        print(f"{name:10s} {median[name]:28.2f} s {args.tasks / median[name]:16,.0f}")
    verdict = "meets" if ratio <= 1 / 3 else "misses"
    print(f"ratio celeriac/celery = {ratio:.2f} (target ≤ 0.33: {verdict})")
    if args.json:
        args.json.write_text(
            json.dumps({"tasks": args.tasks, "runs": runs, "median": median, "ratio": ratio})
        )


if __name__ == "__main__":
    main()
