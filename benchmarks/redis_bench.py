"""Benchmark celeriac against the real Celery 5.7, both on the same local Redis, in one run.

The workloads of the Redis issue, each with a real worker process (``--concurrency 2``)
started from a fresh temporary directory holding a ``benchapp.py`` that uses Redis as
broker and result backend (database 12 by default, flushed before every scenario):

W1  publish rate: one producer process calls ``noop.delay()`` N times (20,000);
W2  drain rate of N queued no-op tasks: Celery prefork ``-c 2``; celeriac prefork ``-c 2``
    with ``def`` tasks, and with ``async def`` tasks;
W3  round trip p50/p99 of 1,000 sequential ``noop.delay().get()``;
W4  2,000 tasks that each sleep 50 ms, wall time from the first publish to the last
    result: celeriac ``async def`` + ``asyncio.sleep`` (prefork ``-c 2`` with
    ``worker_async_slots`` = 1,000) against Celery's threads pool ``-c 100``;
W5  the worker's peak RSS and PSS, summed over all its processes, during W2.

Runs are interleaved (Celery, celeriac, Celery, celeriac … per scenario) and the median
of ``--runs`` is reported, with the ratios and the issue's targets.

Usage::

    python benchmarks/redis_bench.py [--tasks 20000] [--runs 3] [--only W1,W3]
                                     [--json out.json] [--profile DIR]

Set ``CELERIAC_BENCH_KEEP=1`` to keep the temporary directories (worker logs inside).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import (
    Worker,
    fmt,
    latency_summary,
    machine,
    median_of,
    run_role,
    summarize_profile,
)

REDIS_URL = "redis://127.0.0.1:6379/12"
RESULT_PATTERN = "celery-task-meta-*"

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
    "sleep": """

@app.task
def sleep():
    time.sleep(SLEEP)
""",
    "asleep": """

@app.task
async def asleep():
    await asyncio.sleep(SLEEP)
""",
}

APP_SOURCE = '''
"""Benchmark tasks, broker and results on the same Redis database."""
import asyncio
import time

from {module} import Celery

SLEEP = {sleep!r}
app = Celery("benchapp", broker="{url}", backend="{url}")
'''


@dataclass
class System:
    """One implementation: which package, how to start its worker."""

    name: str
    module: str
    supports_async: bool

    def worker_args(self, pool: str, concurrency: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            self.module,
            "-A",
            "benchapp",
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "-l",
            "WARNING",
        ]


CELERY = System("celery", "celery", supports_async=False)
CELERIAC = System("celeriac", "celeriac", supports_async=True)


@dataclass
class Settings:
    url: str
    tasks: int
    runs: int
    latency_calls: int
    io_tasks: int
    io_sleep: float
    async_slots: int
    celery_threads: int
    concurrency: int
    keep: bool
    only: set[str] = field(default_factory=set)


# -- roles run in a fresh interpreter inside the temporary directory ------------------------
def role_publish(count: int, task: str, ids_path: str) -> dict[str, Any]:
    """Publish ``count`` calls of ``task`` (the first one, a warm-up, is not timed)."""
    import benchapp  # type: ignore[import-not-found]

    sig = getattr(benchapp, task)
    ids = [sig.delay().id]  # opens the connection: not part of the rate
    started = time.perf_counter()
    for _ in range(count - 1):
        ids.append(sig.delay().id)
    elapsed = time.perf_counter() - started
    Path(ids_path).write_text("\n".join(ids))
    return {"rate": (count - 1) / elapsed, "seconds": elapsed, "count": count}


def role_latency(count: int, warmup: int = 50) -> dict[str, Any]:
    """Sequential ``noop.delay().get()`` round trips; the worker is already running."""
    import benchapp

    benchapp.noop.delay().get(timeout=120)  # waits for the worker to start
    for _ in range(warmup):
        benchapp.noop.delay().get(timeout=30)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        benchapp.noop.delay().get(timeout=30)
        samples.append((time.perf_counter() - started) * 1000.0)
    return latency_summary(samples)


def role_io(count: int, task: str, url: str) -> dict[str, Any]:
    """Publish ``count`` sleeping tasks to a running worker; time the first publish → last result.

    The worker is warmed up first by one call of the same task (``get()``). The end is
    seen in Redis (the ``celery-task-meta-*`` keys), the same way for both systems, rather
    than through either client's ``get()``.
    """
    import benchapp

    sig = getattr(benchapp, task)
    sig.delay().get(timeout=120)
    watcher = ResultWatcher(url)
    expected = watcher.count() + count
    ids = []
    wall_start = time.time()
    started = time.perf_counter()
    for _ in range(count):
        ids.append(sig.delay().id)
    published = time.perf_counter() - started
    last = watcher.wait_all(expected, timeout=600)
    done = watcher.date_done(ids)
    return {
        "wall_s": last - started,
        "publish_s": published,
        "last_date_done_s": max(done) - wall_start if done else None,
    }


# -- Redis probes -------------------------------------------------------------------------
class ResultWatcher:
    """Sees results arrive in Redis with little load on the machine.

    ``DBSIZE`` (O(1)) is polled until the database holds at least ``expected`` keys; only
    then is the exact number of result keys counted (a server-side ``KEYS`` count, a few
    ms for 20,000 keys), every 2 ms until it is reached. Non-result keys (queue lists,
    bindings, ``unacked`` …) are a handful, so the exact count runs for the last few
    results only.
    """

    def __init__(self, url: str) -> None:
        import redis  # type: ignore[import-untyped,unused-ignore]

        self.url = url
        self.client = redis.Redis.from_url(url)
        self._count = self.client.register_script("return #redis.call('keys', ARGV[1])")

    def count(self) -> int:
        return int(self._count(args=[RESULT_PATTERN]))

    def wait_all(self, expected: int, timeout: float, worker: Worker | None = None) -> float:
        """Wait until ``expected`` result keys exist; return ``time.perf_counter()`` then."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.client.dbsize() >= expected and self.count() >= expected:
                return time.perf_counter()
            if worker is not None and not worker.alive():
                raise RuntimeError(f"worker exited early:\n{worker.log_tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"timed out after {timeout}s with {self.count()} of "
                    f"{expected} results" + (f":\n{worker.log_tail()}" if worker else "")
                )
            time.sleep(0.002 if self.client.dbsize() >= expected else 0.005)

    def date_done(self, ids: list[str]) -> list[float]:
        """The ``date_done`` of each stored result, as Unix times (workers stamp them)."""
        out = []
        for start in range(0, len(ids), 2000):
            keys = [f"celery-task-meta-{task_id}" for task_id in ids[start : start + 2000]]
            for value in self.client.mget(keys):
                if value is None:
                    continue
                stamp = json.loads(value).get("date_done")
                if stamp:
                    out.append(datetime.fromisoformat(stamp).timestamp())
        return out

    def flush(self) -> None:
        self.client.flushdb()

    def others(self) -> list[str]:
        """Other clients connected to this database (a stray worker would skew a scenario)."""
        me = self.client.client_id()
        db = self.client.connection_pool.connection_kwargs.get("db", 0)
        return [
            f"{c.get('addr')} ({c.get('name') or c.get('cmd')})"
            for c in self.client.client_list()
            if int(c.get("db", -1)) == int(db) and int(c.get("id", -1)) != me
        ]

    def require_alone(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while others := self.others():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"other clients use {self.url}: "
                    f"{', '.join(others)}; stop them or pick --redis-url"
                )
            time.sleep(0.1)

    def close(self) -> None:
        self.client.close()


# -- scenarios ------------------------------------------------------------------------------
@contextlib.contextmanager
def workdir(
    system: System, settings: Settings, task: str, conf: dict[str, Any] | None = None
) -> Iterator[Path]:
    """A fresh directory with ``benchapp.py`` registering only ``task``; the database flushed."""
    directory = Path(tempfile.mkdtemp(prefix=f"redisbench-{system.name}-"))
    source = APP_SOURCE.format(module=system.module, url=settings.url, sleep=settings.io_sleep)
    source += "".join(f"app.conf.{key} = {value!r}\n" for key, value in (conf or {}).items())
    source += TASK_SOURCE[task]
    (directory / "benchapp.py").write_text(textwrap.dedent(source))
    watcher = ResultWatcher(settings.url)
    watcher.require_alone()
    watcher.flush()
    watcher.close()
    try:
        yield directory
    finally:
        if settings.keep:
            print(f"  (kept {directory})", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def measure_publish_drain(
    system: System,
    settings: Settings,
    task: str,
    drain: bool,
    profile: Path | None = None,
    publish_profile: Path | None = None,
) -> dict[str, Any]:
    """W1: publish N calls; W2/W5: then start the worker and time its drain of them."""
    with workdir(system, settings, task) as directory:
        ids_path = directory / "ids.txt"
        published = run_role(
            __file__,
            directory,
            "publish",
            "--tasks",
            str(settings.tasks),
            "--task",
            task,
            "--ids",
            str(ids_path),
            profile=publish_profile,
        )
        out: dict[str, Any] = {"publish_rate": published["rate"]}
        if not drain:
            return out
        ids = ids_path.read_text().split()
        watcher = ResultWatcher(settings.url)
        wall_start = time.time()
        worker = Worker(system.worker_args("prefork", settings.concurrency), directory)
        worker.sample_memory()
        if profile is not None:
            worker.profile(profile)
        try:
            last = watcher.wait_all(len(ids), timeout=1800, worker=worker)
        finally:
            worker.stop_sampling()
            worker.stop()
        total = last - worker.started
        done = watcher.date_done(ids)
        watcher.close()
        if len(done) < len(ids):
            raise RuntimeError(f"{system.name}: {len(ids) - len(done)} results have no date_done")
        first = min(done) - wall_start  # the worker stamps date_done when a task completes
        out.update(
            {
                "drain_total_s": total,
                "startup_s": first,
                "drain_rate": (len(ids) - 1) / max(1e-9, total - first),
                "drain_rate_incl_startup": len(ids) / total,
                "drain_stamped_s": max(done) - min(done),
                "peak_rss_mb": worker.peak_rss / 2**20,
                "peak_pss_mb": worker.peak_pss / 2**20,
                "memory_samples": worker.samples,
                "cpu_cores": worker.cpu_cores(total),
            }
        )
        return out


def measure_latency(
    system: System, settings: Settings, profile: Path | None = None
) -> dict[str, Any]:
    """W3: sequential round trips against a running prefork worker."""
    with workdir(system, settings, "noop") as directory:
        worker = Worker(system.worker_args("prefork", settings.concurrency), directory)
        if profile is not None:
            worker.profile(profile.with_name(profile.stem + "-worker.txt"))
        try:
            return run_role(
                __file__,
                directory,
                "latency",
                "--tasks",
                str(settings.latency_calls),
                profile=profile.with_name(profile.stem + "-client.txt") if profile else None,
            )
        finally:
            worker.stop()


def measure_io(system: System, settings: Settings, profile: Path | None = None) -> dict[str, Any]:
    """W4: N sleeping tasks; celeriac async tasks vs Celery's threads pool."""
    if system.supports_async:
        task, pool, concurrency = "asleep", "prefork", settings.concurrency
        conf = {"worker_async_slots": settings.async_slots}
    else:
        task, pool, concurrency = "sleep", "threads", settings.celery_threads
        conf = {}
    with workdir(system, settings, task, conf) as directory:
        worker = Worker(system.worker_args(pool, concurrency), directory)
        if profile is not None:
            worker.profile(profile.with_name(profile.stem + "-worker.txt"))
        try:
            return run_role(
                __file__,
                directory,
                "io",
                "--tasks",
                str(settings.io_tasks),
                "--task",
                task,
                "--redis-url",
                settings.url,
                profile=profile.with_name(profile.stem + "-client.txt") if profile else None,
            )
        finally:
            worker.stop()


def run_scenario(
    scenario: str, system: System, settings: Settings, profile_dir: Path | None = None
) -> dict[str, float]:
    """One run of one scenario group for one system; the figures by metric name."""
    out: dict[str, float] = {}

    def path(name: str) -> Path | None:
        return None if profile_dir is None else profile_dir / f"{system.name}-{name}.txt"

    if scenario == "publish_drain":
        drain = bool(settings.only & {"W2", "W5"})
        sync = measure_publish_drain(
            system, settings, "noop", drain, path("W2-drain-sync"), path("W1-publish")
        )
        out["w1_publish_rate"] = sync["publish_rate"]
        if drain:
            out["w2_sync_rate"] = sync["drain_rate"]
            out["w2_sync_total_s"] = sync["drain_total_s"]
            out["w2_sync_startup_s"] = sync["startup_s"]
            out["w2_sync_rate_incl_startup"] = sync["drain_rate_incl_startup"]
            out["w2_sync_stamped_s"] = sync["drain_stamped_s"]
            out["w2_sync_cpu_cores"] = sync["cpu_cores"]
            out["w5_pss_mb"] = sync["peak_pss_mb"]
            out["w5_rss_mb"] = sync["peak_rss_mb"]
            out["w5_sync_pss_mb"] = sync["peak_pss_mb"]
            out["w5_sync_rss_mb"] = sync["peak_rss_mb"]
        if drain and system.supports_async:
            adrain = measure_publish_drain(system, settings, "anoop", True, path("W2-drain-async"))
            out["w1_publish_rate_async_task"] = adrain["publish_rate"]
            out["w2_async_rate"] = adrain["drain_rate"]
            out["w2_async_total_s"] = adrain["drain_total_s"]
            out["w2_async_startup_s"] = adrain["startup_s"]
            out["w2_async_rate_incl_startup"] = adrain["drain_rate_incl_startup"]
            out["w2_async_stamped_s"] = adrain["drain_stamped_s"]
            out["w2_async_cpu_cores"] = adrain["cpu_cores"]
            out["w5_async_pss_mb"] = adrain["peak_pss_mb"]
            out["w5_async_rss_mb"] = adrain["peak_rss_mb"]
            out["w5_pss_mb"] = max(out["w5_pss_mb"], adrain["peak_pss_mb"])
            out["w5_rss_mb"] = max(out["w5_rss_mb"], adrain["peak_rss_mb"])
    elif scenario == "latency":
        latency = measure_latency(system, settings, path("W3-latency"))
        out["w3_p50_ms"] = latency["p50_ms"]
        out["w3_p99_ms"] = latency["p99_ms"]
        out["w3_mean_ms"] = latency["mean_ms"]
    elif scenario == "io":
        io = measure_io(system, settings, path("W4-io"))
        out["w4_wall_s"] = io["wall_s"]
        out["w4_publish_s"] = io["publish_s"]
        if io.get("last_date_done_s") is not None:
            out["w4_last_date_done_s"] = io["last_date_done_s"]
    return out


def scenarios_for(only: set[str]) -> list[str]:
    out = []
    if only & {"W1", "W2", "W5"}:
        out.append("publish_drain")
    if "W3" in only:
        out.append("latency")
    if "W4" in only:
        out.append("io")
    return out


# -- report ---------------------------------------------------------------------------------
@dataclass
class Row:
    key: str
    label: str
    unit: str
    higher: bool
    #: the target ratio celeriac / Celery (≥ when higher is better, ≤ otherwise)
    target: float | None = None
    #: the Celery figure to compare with, when not the same key
    celery_key: str | None = None
    workload: str = ""


def rows(settings: Settings) -> list[Row]:
    n, io = f"{settings.tasks:,}", f"{settings.io_tasks:,}"
    sleep_ms = f"{settings.io_sleep * 1000:g} ms"
    slots = f"{settings.async_slots:,}"
    return [
        Row(
            "w1_publish_rate",
            f"W1 publish {n} `noop.delay()`, one producer",
            "tasks/s",
            True,
            3.0,
            workload="W1",
        ),
        Row(
            "w2_sync_rate",
            f"W2 drain {n} no-ops, prefork -c 2, `def` tasks",
            "tasks/s",
            True,
            5.0,
            workload="W2",
        ),
        Row(
            "w2_async_rate",
            f"W2 drain {n} no-ops, prefork -c 2, `async def` tasks "
            "(Celery: its prefork `def` drain)",
            "tasks/s",
            True,
            8.0,
            celery_key="w2_sync_rate",
            workload="W2",
        ),
        Row("w3_p50_ms", "W3 round trip `delay().get()` p50", "ms", False, 0.5, workload="W3"),
        Row("w3_p99_ms", "W3 round trip `delay().get()` p99", "ms", False, workload="W3"),
        Row(
            "w4_wall_s",
            f"W4 {io} × {sleep_ms} sleep, first publish → last result "  # noqa: RUF001
            f"(celeriac `async def`, prefork -c 2, {slots} async slots each; Celery threads "
            f"-c {settings.celery_threads})",
            "s",
            False,
            1 / 3,
            workload="W4",
        ),
        Row(
            "w5_pss_mb",
            "W5 worker peak PSS, all processes, during W2",
            "MB",
            False,
            0.5,
            workload="W5",
        ),
        Row(
            "w5_rss_mb", "W5 worker peak RSS, all processes, during W2", "MB", False, workload="W5"
        ),
        Row(
            "w2_sync_startup_s", "worker start command → first task done", "s", False, workload="W2"
        ),
        Row(
            "w2_sync_total_s",
            "W2 `def` drain: start command → last result",
            "s",
            False,
            workload="W2",
        ),
        Row(
            "w2_async_total_s",
            "W2 `async def` drain: start command → last result",
            "s",
            False,
            celery_key="w2_sync_total_s",
            workload="W2",
        ),
        Row(
            "w2_sync_cpu_cores",
            "worker CPU during the `def` drain (cores, of 2)",
            "cores",
            False,
            workload="W2",
        ),
        Row(
            "w2_async_cpu_cores",
            "worker CPU during the `async def` drain (cores, of 2)",
            "cores",
            False,
            celery_key="w2_sync_cpu_cores",
            workload="W2",
        ),
        Row("w4_publish_s", f"W4 time to publish the {io} tasks", "s", False, workload="W4"),
    ]


def ratio(row: Row, ours: dict[str, float], celery: dict[str, float]) -> float | None:
    mine, theirs = ours.get(row.key), celery.get(row.celery_key or row.key)
    if mine is None or not theirs:
        return None
    return mine / theirs


def verdict(row: Row, value: float | None) -> str:
    if row.target is None or value is None:
        return ""
    ok = value >= row.target if row.higher else value <= row.target
    return "pass" if ok else "**FAIL**"


def table(settings: Settings, ours: dict[str, float], celery: dict[str, float]) -> str:
    lines = [
        "| measure | Celery 5.7 | celeriac | celeriac / Celery | target | result |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for row in rows(settings):
        if row.workload not in settings.only:
            continue
        if ours.get(row.key) is None and celery.get(row.celery_key or row.key) is None:
            continue
        value = ratio(row, ours, celery)
        target = ""
        if row.target is not None:
            target = f"{'≥' if row.higher else '≤'} {fmt(row.target, 'x')}"
        theirs = celery.get(row.celery_key or row.key)
        lines.append(
            f"| {row.label} | {fmt(theirs, row.unit)} | {fmt(ours.get(row.key), row.unit)}"
            f" | {fmt(value, 'x')} | {target} | {verdict(row, value)} |"
        )
    return "\n".join(lines)


def spread(runs: list[dict[str, float]], key: str, unit: str) -> str:
    values = [run[key] for run in runs if key in run]
    if not values:
        return ""
    return f"{fmt(min(values), unit)}–{fmt(max(values), unit)}"  # noqa: RUF001


def tree(src: str | None = None) -> str:
    """The commit measured, and whether ``src/`` had uncommitted changes."""
    if src:
        marker = Path(src) / ".commit"
        what = f"commit {marker.read_text().strip()}" if marker.exists() else "unknown commit"
        return f"{what}, exported to {src}"
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown tree"
    return f"commit {head}" + (" plus uncommitted changes in src/" if dirty else "")


def versions(url: str) -> str:
    out = []
    for name in ("celery", "kombu", "redis"):
        try:
            module = __import__(name)
            out.append(f"{name} {module.__version__}")
        except ImportError:
            out.append(f"{name} missing")
    try:
        import redis

        info = redis.Redis.from_url(url).info("server")
        out.append(f"Redis server {info['redis_version']}")
    except Exception:  # informational only
        pass
    return ", ".join(out)


#: Celery 5.7 prefork -c 2 on this machine, quiet, as the Redis issue states them (W4:
#: threads -c 100). Printed beside the live figures: on a loaded machine the live Celery
#: is slower, which flatters every ratio.
ISSUE_REFERENCE = {
    "w1_publish_rate": 2200.0,
    "w2_sync_rate": 970.0,
    "w3_p50_ms": 2.2,
    "w4_wall_s": 2.7,
    "w5_pss_mb": 83.0,
    "w5_rss_mb": 140.0,
}


def reference_table(settings: Settings, ours: dict[str, float]) -> str:
    lines = [
        "| measure | Celery 5.7 (issue) | celeriac | celeriac / issue's Celery | target | result |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    reference = dict(ISSUE_REFERENCE)
    for row in rows(settings):
        key = row.celery_key or row.key
        if row.workload not in settings.only or key not in reference:
            continue
        value = ours.get(row.key)
        value_ratio = None if value is None else value / reference[key]
        target = (
            "" if row.target is None else f"{'≥' if row.higher else '≤'} {fmt(row.target, 'x')}"
        )
        lines.append(
            f"| {row.label} | {fmt(reference[key], row.unit)} | {fmt(value, row.unit)}"
            f" | {fmt(value_ratio, 'x')} | {target} | {verdict(row, value_ratio)} |"
        )
    return "\n".join(lines)


def paired(runs: dict[str, list[dict[str, float]]], row: Row) -> str:
    """celeriac / Celery within each run (the two ran back to back)."""
    out = []
    for mine, theirs in zip(runs["celeriac"], runs["celery"], strict=False):
        a, b = mine.get(row.key), theirs.get(row.celery_key or row.key)
        out.append("n/a" if a is None or not b else f"{a / b:.2f}")
    return ", ".join(out)


def report(payload: dict[str, Any]) -> list[str]:
    """Print the tables of a run (or of a saved ``--json`` file); return the missed targets."""
    settings = Settings(**payload["settings"], only=set(payload["only"]))
    runs = payload["runs"]
    runs.setdefault("celery", [])
    celery, ours = median_of(runs["celery"]), median_of(runs["celeriac"])
    load = (
        f"load average {payload['load_before'][0]:.1f} before, "
        f"{payload['load_after'][0]:.1f} after (1 min)"
    )
    print(
        f"\n{settings.tasks:,} tasks for W1/W2, {settings.latency_calls:,} round trips, "
        f"{settings.io_tasks:,} × {settings.io_sleep * 1000:g} ms for W4, "  # noqa: RUF001
        f"median of {len(runs['celeriac'])} interleaved run(s); {payload['machine']}; "
        f"{payload['versions']}; celeriac at {payload['tree']}; {load}\n"
    )
    print(table(settings, ours, celery))
    if len(runs["celery"]) > 1:
        print("\nRange over the runs (min–max), and celeriac / Celery in each run:")  # noqa: RUF001
        for row in rows(settings):
            if row.workload in settings.only and row.target is not None:
                key_c = row.celery_key or row.key
                print(
                    f"  {row.key}: Celery {spread(runs['celery'], key_c, row.unit)}, "
                    f"celeriac {spread(runs['celeriac'], row.key, row.unit)}; "
                    f"per run {paired(runs, row)}"
                )
    if (
        settings.tasks,
        settings.latency_calls,
        settings.io_tasks,
        settings.io_sleep,
        settings.celery_threads,
    ) == (20_000, 1000, 2000, 0.05, 100):
        print("\nAgainst the issue's figures for Celery 5.7 on a quiet machine:\n")
        print(reference_table(settings, ours))
    failed = [
        row.key
        for row in rows(settings)
        if row.workload in settings.only and verdict(row, ratio(row, ours, celery)) == "**FAIL**"
    ]
    payload.update(
        {
            "median": {"celery": celery, "celeriac": ours},
            "ratios": {
                row.key: ratio(row, ours, celery)
                for row in rows(settings)
                if row.workload in settings.only
            },
            "targets": {
                row.key: [">=" if row.higher else "<=", row.target]
                for row in rows(settings)
                if row.target is not None
            },
            "issue_reference": ISSUE_REFERENCE,
            "failed": failed,
        }
    )
    return failed


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--tasks", type=int, default=20_000, help="tasks published (W1) and drained (W2)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument(
        "--only",
        default="W1,W2,W3,W4,W5",
        help="workloads to run, comma separated (W5 needs the W2 drains)",
    )
    parser.add_argument("--latency-calls", type=int, default=1000, help="W3 round trips")
    parser.add_argument("--io-tasks", type=int, default=2000, help="W4 tasks")
    parser.add_argument("--io-sleep", type=float, default=0.05, help="W4 seconds per task")
    parser.add_argument(
        "--async-slots",
        type=int,
        default=1000,
        help="W4: celeriac's worker_async_slots (per prefork child)",
    )
    parser.add_argument(
        "--celery-threads", type=int, default=100, help="W4: Celery's threads pool concurrency"
    )
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help="the database both systems use; FLUSHED before every scenario",
    )
    parser.add_argument(
        "--celeriac-src",
        metavar="DIR",
        help="import celeriac from DIR (e.g. `git archive` of a commit, with "
        "the commit in DIR/.commit) instead of the installed tree",
    )
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    parser.add_argument(
        "--no-celery",
        action="store_true",
        help="run celeriac only (no Celery column; benchmarks/compare_trees.py uses this)",
    )
    parser.add_argument(
        "--render",
        metavar="FILE",
        help="print the tables of a file written by --json (with --json, "
        "write it again with the current summary fields); run nothing",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="after the measured runs, one more celeriac run of each workload "
        "under py-spy (W2: the worker's processes; W1, W3, W4: the "
        "producer/client too), into DIR; prints the top functions",
    )
    parser.add_argument(
        "--profile-celery", action="store_true", help="with --profile, profile Celery's run too"
    )
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="noop", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.role == "publish":
        print(json.dumps(role_publish(args.tasks, args.task, args.ids)))
        return 0
    if args.role == "latency":
        print(json.dumps(role_latency(args.tasks)))
        return 0
    if args.role == "io":
        print(json.dumps(role_io(args.tasks, args.task, args.redis_url)))
        return 0

    if args.render:
        saved = json.loads(Path(args.render).read_text())
        failed = report(saved)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(saved, indent=2) + "\n")
        return 1 if failed else 0
    if args.celeriac_src:
        src = str(Path(args.celeriac_src).resolve())
        os.environ["PYTHONPATH"] = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        args.celeriac_src = src
    only = {item.strip().upper() for item in args.only.split(",") if item.strip()}
    unknown = only - {"W1", "W2", "W3", "W4", "W5"}
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    settings = Settings(
        url=args.redis_url,
        tasks=args.tasks,
        runs=args.runs,
        latency_calls=args.latency_calls,
        io_tasks=args.io_tasks,
        io_sleep=args.io_sleep,
        async_slots=args.async_slots,
        celery_threads=args.celery_threads,
        concurrency=2,
        keep=bool(os.environ.get("CELERIAC_BENCH_KEEP")),
        only=only,
    )
    systems = (CELERIAC,) if args.no_celery else (CELERY, CELERIAC)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {system.name: [] for system in systems}
    for index in range(args.runs):
        figures: dict[str, dict[str, float]] = {system.name: {} for system in systems}
        for scenario in scenarios_for(only):
            for system in systems:
                print(
                    f"run {index + 1}/{args.runs}: {scenario}, {system.name} …",
                    file=sys.stderr,
                    flush=True,
                )
                got = run_scenario(scenario, system, settings)
                print(
                    "  " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(got.items())),
                    file=sys.stderr,
                    flush=True,
                )
                figures[system.name].update(got)
        for system in systems:
            runs[system.name].append(figures[system.name])
    payload = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "settings": {k: v for k, v in vars(settings).items() if k != "only"},
        "only": sorted(only),
        "machine": machine(),
        "versions": versions(args.redis_url),
        "tree": tree(args.celeriac_src),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "runs": runs,
    }
    failed = report(payload)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n")

    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        profiled = (CELERY, CELERIAC) if args.profile_celery else (CELERIAC,)
        for scenario in scenarios_for(only):
            for system in profiled:
                print(f"profiling: {scenario}, {system.name} …", file=sys.stderr, flush=True)
                got = run_scenario(scenario, system, settings, args.profile)
                print(
                    "  (under py-spy) " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(got.items())),
                    file=sys.stderr,
                    flush=True,
                )
        for path in sorted(args.profile.glob("*.txt")):
            package = "celery" if path.name.startswith("celery-") else "celeriac"
            print(f"\n{path.name}:\n{summarize_profile(path, package=package)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
