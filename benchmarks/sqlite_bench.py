"""Benchmark celeriac on its embedded SQLite broker, with a real ``celeriac worker`` process.

Measures, each run in fresh temporary directories:

a. publish rate: N ``noop.delay()`` calls from one producer process;
b. drain rate of N queued sync no-op tasks, ``celeriac -A benchapp worker -P prefork -c 2``;
c. the same with ``async def anoop()`` tasks (they run on each child's event loop);
d. round-trip latency p50/p99 of sequential ``noop.delay().get()`` calls;
e. the worker's peak RSS and PSS, summed over its processes, sampled during the drains.

A drain is timed from the worker's start command to the moment the last result is
stored; the worker's start-up time (start command → result of a single queued task) is
measured separately, and the drain rate is ``N / (total - startup)``. Both are reported.

With ``--celery`` the same scenarios run with the real Celery (5.7, prefork ``-c 2``) on
the local Redis (database 13, flushed before each scenario), for a side-by-side column.

Usage::

    python benchmarks/sqlite_bench.py [--tasks 20000] [--runs 3] [--latency-calls 1000]
                                      [--celery] [--json out.json]

Set ``CELERIAC_BENCH_KEEP=1`` to keep the temporary directories (worker logs inside).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    Worker,
    latency_summary,
    median_of,
    summarize_profile,
    wait_for,
)
from common import fmt as _fmt
from common import machine as _machine
from common import run_role as _run_role

REDIS_URL = "redis://127.0.0.1:6379/13"
DB_FILE = "celeriac.sqlite3"  # the default file of Celery('benchapp') in the working directory

CELERIAC_APP = '''
"""Benchmark tasks on the zero-configuration default: the embedded SQLite file in the cwd."""
from celeriac import Celery

app = Celery("benchapp")
'''

#: Each scenario's app registers only the task it runs (see --mixed-app).
TASK_SOURCE = {
    "noop": """

@app.task
def noop():
    return None
""",
    "anoop": """

@app.task
async def anoop():
    return None
""",
}

CELERY_APP = f'''
"""The same tasks for the real Celery, on Redis."""
from celery import Celery

app = Celery("benchapp", broker="{REDIS_URL}", backend="{REDIS_URL}")
'''

#: name → (target or None, higher is better, unit)
TARGETS: dict[str, tuple[float | None, bool, str]] = {
    "publish_rate": (5000.0, True, "tasks/s"),
    "drain_prefork_rate": (2000.0, True, "tasks/s"),
    "drain_async_rate": (4000.0, True, "tasks/s"),
    "latency_p50_ms": (5.0, False, "ms"),
    "latency_p99_ms": (None, False, "ms"),
    "worker_pss_mb": (60.0, False, "MB"),
    "worker_rss_mb": (None, False, "MB"),
    "startup_s": (None, False, "s"),
    "drain_prefork_total_s": (None, False, "s"),
    "drain_async_total_s": (None, False, "s"),
    "drain_prefork_cpu_cores": (None, False, "cores"),
    "drain_async_cpu_cores": (None, False, "cores"),
}

LABELS = {
    "publish_rate": "publish, one producer",
    "drain_prefork_rate": "drain, prefork -c 2, sync tasks",
    "drain_prefork_total_s": "drain, prefork -c 2, sync: start command → last result",
    "drain_async_rate": "drain, prefork -c 2, async tasks",
    "drain_async_total_s": "drain, prefork -c 2, async: start command → last result",
    "startup_s": "worker start-up (start command → first result)",
    "latency_p50_ms": "round trip `delay().get()` p50",
    "latency_p99_ms": "round trip `delay().get()` p99",
    "worker_pss_mb": "worker peak PSS (sum over processes)",
    "worker_rss_mb": "worker peak RSS (sum over processes)",
    "drain_prefork_cpu_cores": "worker CPU during the sync drain (cores busy, of 2)",
    "drain_async_cpu_cores": "worker CPU during the async drain (cores busy, of 2)",
}


# -- roles run in a fresh interpreter inside the temporary directory ------------------------
def role_publish(count: int, task: str) -> dict[str, Any]:
    """Publish ``count`` calls of ``task``; print the publish rate (after one warm-up call)."""
    import benchapp  # type: ignore[import-not-found]

    sig = getattr(benchapp, task)
    sig.delay()  # opens the connection and creates the schema: not part of the rate
    ids = []
    started = time.perf_counter()
    for _ in range(count - 1):
        ids.append(sig.delay().id)
    elapsed = time.perf_counter() - started
    return {"rate": (count - 1) / elapsed, "seconds": elapsed, "last_id": ids[-1] if ids else ""}


def role_latency(count: int, warmup: int = 50) -> dict[str, Any]:
    """Sequential ``noop.delay().get()`` round trips; the worker is already running."""
    import benchapp

    # The first call waits for the worker to start; the rest warm the path up.
    benchapp.noop.delay().get(timeout=120)
    for _ in range(warmup):
        benchapp.noop.delay().get(timeout=30)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        benchapp.noop.delay().get(timeout=30)
        samples.append((time.perf_counter() - started) * 1000.0)
    return latency_summary(samples)


# -- harness -----------------------------------------------------------------------------
@dataclass
class Flavor:
    """How to run one implementation: app source, worker command, result store probes."""

    name: str
    app_source: str
    worker_args: list[str]
    count_results: Callable[[Path], int]
    has_result: Callable[[Path, str], bool]
    reset: Callable[[], None] = lambda: None
    supports_async: bool = True
    #: register noop and anoop in every scenario's app (default: only the task it runs)
    mixed_app: bool = False
    #: write a py-spy profile of each drain here (collapsed stacks)
    profile_dir: Path | None = None


def _sqlite_count(directory: Path) -> int:
    path = directory / DB_FILE
    if not path.exists():
        return 0
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        ) as conn:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM celeriac_results WHERE status = 'SUCCESS'"
                ).fetchone()[0]
            )
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _sqlite_has(directory: Path, task_id: str) -> bool:
    path = directory / DB_FILE
    if not path.exists():
        return False
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        ) as conn:
            if task_id:
                sql, args = "SELECT 1 FROM celeriac_results WHERE task_id = ?", (task_id,)
            else:
                sql, args = "SELECT 1 FROM celeriac_results LIMIT 1", ()
            return conn.execute(sql, args).fetchone() is not None
    except sqlite3.OperationalError:
        return False


def _redis() -> Any:
    import redis  # type: ignore[import-not-found,import-untyped,unused-ignore]

    return redis.Redis.from_url(REDIS_URL)


def _redis_count(_directory: Path) -> int:
    client = _redis()
    return sum(1 for _ in client.scan_iter("celery-task-meta-*", count=5000))


def _redis_has(_directory: Path, task_id: str) -> bool:
    client = _redis()
    if task_id:
        return bool(client.exists(f"celery-task-meta-{task_id}"))
    return next(iter(client.scan_iter("celery-task-meta-*", count=1000)), None) is not None


def _redis_flush() -> None:
    _redis().flushdb()


def celeriac_flavor() -> Flavor:
    return Flavor(
        name="celeriac",
        app_source=CELERIAC_APP,
        worker_args=[
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
            "-l",
            "WARNING",
        ],
        count_results=_sqlite_count,
        has_result=_sqlite_has,
    )


def celery_flavor() -> Flavor:
    return Flavor(
        name="celery",
        app_source=CELERY_APP,
        worker_args=[
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchapp",
            "worker",
            "-P",
            "prefork",
            "-c",
            "2",
            "-l",
            "WARNING",
        ],
        count_results=_redis_count,
        has_result=_redis_has,
        reset=_redis_flush,
        supports_async=False,
    )


@contextlib.contextmanager
def workdir(flavor: Flavor, keep: bool, tasks: tuple[str, ...] = ("noop",)) -> Iterator[Path]:
    """A fresh temporary directory holding the app module (and, for celeriac, its broker)."""
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{flavor.name}-"))
    if flavor.mixed_app:
        tasks = tuple(TASK_SOURCE) if flavor.supports_async else ("noop",)
    source = flavor.app_source + "".join(TASK_SOURCE[name] for name in tasks)
    (directory / "benchapp.py").write_text(textwrap.dedent(source))
    flavor.reset()
    try:
        yield directory
    finally:
        if keep:
            print(f"  (kept {directory})", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def run_role(directory: Path, role: str, *args: str) -> dict[str, Any]:
    """Run one of this file's roles in a fresh interpreter in ``directory``."""
    return _run_role(__file__, directory, role, *args)


def measure_startup(flavor: Flavor, keep: bool) -> float:
    """Start command → the result of one task queued before the worker started."""
    with workdir(flavor, keep) as directory:
        published = run_role(directory, "publish", "--tasks", "2", "--task", "noop")
        last = published["last_id"]
        worker = Worker(flavor.worker_args, directory)
        try:
            return wait_for(lambda: flavor.has_result(directory, last), worker, 120)
        finally:
            worker.stop()


def measure_drain(flavor: Flavor, tasks: int, task: str, keep: bool) -> dict[str, Any]:
    """Pre-publish ``tasks`` calls (timed: the publish rate), then time the worker's drain."""
    with workdir(flavor, keep, (task,)) as directory:
        published = run_role(directory, "publish", "--tasks", str(tasks), "--task", task)
        last = published["last_id"]
        worker = Worker(flavor.worker_args, directory)
        worker.sample_memory()
        if flavor.profile_dir is not None:
            worker.profile(flavor.profile_dir / f"{flavor.name}-drain-{task}.txt")
        try:
            first = wait_for(lambda: flavor.has_result(directory, ""), worker, 120)
            wait_for(lambda: flavor.has_result(directory, last), worker, 1800, 0.01)
            total = wait_for(lambda: flavor.count_results(directory) >= tasks, worker, 600, 0.02)
        finally:
            worker.stop_profile()
            worker.stop()
        return {
            "publish_rate": published["rate"],
            "first_result_s": first,
            "total_s": total,
            "peak_rss": worker.peak_rss,
            "peak_pss": worker.peak_pss,
            "cpu_cores": sum(worker.cpu_seconds.values()) / total,
        }


def measure_latency(flavor: Flavor, calls: int, keep: bool) -> dict[str, Any]:
    with workdir(flavor, keep) as directory:
        worker = Worker(flavor.worker_args, directory)
        try:
            return run_role(directory, "latency", "--tasks", str(calls))
        finally:
            worker.stop()


def run_once(flavor: Flavor, tasks: int, calls: int, keep: bool) -> dict[str, float]:
    """One run of every scenario; returns the figures by metric name."""
    out: dict[str, float] = {}
    startup = measure_startup(flavor, keep)
    out["startup_s"] = startup
    drain = measure_drain(flavor, tasks, "noop", keep)
    out["publish_rate"] = drain["publish_rate"]
    out["drain_prefork_total_s"] = drain["total_s"]
    out["drain_prefork_rate"] = tasks / max(1e-9, drain["total_s"] - startup)
    out["drain_prefork_rate_incl_startup"] = tasks / drain["total_s"]
    out["drain_prefork_cpu_cores"] = drain["cpu_cores"]
    peak_rss, peak_pss = drain["peak_rss"], drain["peak_pss"]
    if flavor.supports_async:
        adrain = measure_drain(flavor, tasks, "anoop", keep)
        out["drain_async_total_s"] = adrain["total_s"]
        out["drain_async_rate"] = tasks / max(1e-9, adrain["total_s"] - startup)
        out["drain_async_rate_incl_startup"] = tasks / adrain["total_s"]
        out["drain_async_cpu_cores"] = adrain["cpu_cores"]
        peak_rss, peak_pss = max(peak_rss, adrain["peak_rss"]), max(peak_pss, adrain["peak_pss"])
    out["worker_rss_mb"] = peak_rss / 2**20
    out["worker_pss_mb"] = peak_pss / 2**20
    latency = measure_latency(flavor, calls, keep)
    out["latency_p50_ms"] = latency["p50_ms"]
    out["latency_p99_ms"] = latency["p99_ms"]
    return out


def verdict(name: str, value: float | None) -> str:
    target, higher, _unit = TARGETS[name]
    if target is None or value is None:
        return ""
    ok = value >= target if higher else value <= target
    return "pass" if ok else "**FAIL**"


def table(ours: dict[str, float], celery: dict[str, float] | None) -> str:
    header = "| measure | celeriac (SQLite) | target | result |"
    rule = "| --- | ---: | ---: | :---: |"
    if celery is not None:
        header += " Celery 5.7 (Redis) |"
        rule += " ---: |"
    lines = [header, rule]
    order = [
        "publish_rate",
        "drain_prefork_rate",
        "drain_async_rate",
        "latency_p50_ms",
        "latency_p99_ms",
        "worker_pss_mb",
        "worker_rss_mb",
        "startup_s",
        "drain_prefork_total_s",
        "drain_async_total_s",
        "drain_prefork_cpu_cores",
        "drain_async_cpu_cores",
    ]
    for name in order:
        target, higher, unit = TARGETS[name]
        value = ours.get(name)
        sign = "≥" if higher else "≤"
        target_text = f"{sign} {_fmt(target, unit)}" if target is not None else ""
        row = f"| {LABELS[name]} | {_fmt(value, unit)} | {target_text} | {verdict(name, value)} |"
        if celery is not None:
            row += f" {_fmt(celery.get(name), unit)} |"
        lines.append(row)
    return "\n".join(lines)


def machine() -> str:
    return f"{_machine()}, SQLite {sqlite3.sqlite_version}"


def run_flavor(flavor: Flavor, args: argparse.Namespace) -> dict[str, float]:
    runs = []
    for index in range(args.runs):
        print(f"{flavor.name}: run {index + 1}/{args.runs} …", file=sys.stderr, flush=True)
        figures = run_once(flavor, args.tasks, args.latency_calls, args.keep)
        print(
            "  " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(figures.items())),
            file=sys.stderr,
            flush=True,
        )
        runs.append(figures)
    return median_of(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per publish/drain")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument(
        "--latency-calls",
        type=int,
        default=1000,
        help="sequential delay().get() calls for the latency figures",
    )
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    parser.add_argument(
        "--celery",
        action="store_true",
        help="also run the scenarios with real Celery on Redis (db 13)",
    )
    parser.add_argument(
        "--mixed-app",
        action="store_true",
        help="register both noop and anoop in every scenario's app",
    )
    parser.add_argument(
        "--prefetch-multiplier", type=int, help="pass --prefetch-multiplier to the celeriac worker"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="record each celeriac drain with py-spy into DIR and print the top functions",
    )
    parser.add_argument("--only-celery", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="noop", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.keep = bool(os.environ.get("CELERIAC_BENCH_KEEP"))

    if args.role == "publish":
        print(json.dumps(role_publish(args.tasks, args.task)))
        return 0
    if args.role == "latency":
        print(json.dumps(role_latency(args.tasks)))
        return 0

    flavor = celeriac_flavor()
    flavor.mixed_app = args.mixed_app
    flavor.profile_dir = args.profile
    if args.prefetch_multiplier:
        flavor.worker_args += ["--prefetch-multiplier", str(args.prefetch_multiplier)]
    ours = None if args.only_celery else run_flavor(flavor, args)
    celery = run_flavor(celery_flavor(), args) if (args.celery or args.only_celery) else None
    print(
        f"\n{args.tasks:,} tasks per drain, {args.latency_calls:,} round trips, "
        f"median of {args.runs} run(s); {machine()}\n"
    )
    print(table(ours or {}, celery))
    if args.json_path:
        payload = {
            "tasks": args.tasks,
            "runs": args.runs,
            "machine": machine(),
            "celeriac": ours,
            "celery": celery,
            "targets": {k: v[0] for k, v in TARGETS.items() if v[0] is not None},
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n")
    if args.profile is not None:
        for path in sorted(args.profile.glob("*.txt")):
            print(f"\n{path.name}:\n{summarize_profile(path)}")
    failed = [name for name in TARGETS if ours and verdict(name, ours.get(name)) == "**FAIL**"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
