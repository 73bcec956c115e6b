"""Beat with many entries: CPU per idle tick, start-up cost, firing cost and memory.

    python benchmarks/beat_bench.py                       # 100,000 entries, SQLite broker
    python benchmarks/beat_bench.py --broker redis://127.0.0.1:6379/13 --entries 100000

Builds ``beat_schedule`` with N entries (a third intervals of 1 min to 1 day, a third
``crontab(minute=m, hour=h)``, a third ``crontab(minute='*/k')``), starts a real
:class:`celeriac.beat.service.Beat` on the broker (leader lock, schedule file and broker
state store), takes the lock, loads the state (which writes every entry's first state to
both stores), then times ``scheduler.tick()`` with nothing due, in CPU time
(``time.process_time``). Targets: < 5 ms CPU per idle tick with 100,000 entries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from celeriac import Celery
from celeriac.beat.service import Beat
from celeriac.schedules import crontab


def schedule_entries(count: int, seed: int = 7) -> dict[str, dict[str, Any]]:
    """``count`` entries, none due in the first minute."""
    rng = random.Random(seed)
    entries: dict[str, dict[str, Any]] = {}
    for index in range(count):
        kind = index % 3
        if kind == 0:
            sched: Any = timedelta(seconds=rng.randint(60, 86400))
        elif kind == 1:
            sched = crontab(minute=rng.randint(0, 59), hour=rng.randint(0, 23))
        else:
            sched = crontab(minute=f"*/{rng.randint(2, 30)}")
        entries[f"entry-{index}"] = {"task": "bench.noop", "schedule": sched, "args": (index,)}
    return entries


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=2_000)
    parser.add_argument("--due", type=int, default=2_000, help="entries fired at once")
    parser.add_argument("--broker", help="broker URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="beat-bench-"))
    broker = args.broker or f"sqlite:///{directory / 'broker.db'}"
    baseline = rss_mb()
    app = Celery("bench", broker=broker, backend="disabled", set_as_current=False)
    if broker.startswith("redis"):
        prefix = f"beatbench{os.getpid()}_"
        app.conf.broker_transport_options = {"global_keyprefix": prefix}
    app.conf.beat_schedule = schedule_entries(args.entries)
    built = rss_mb()

    beat = Beat(app, schedule_filename=str(directory / "celerybeat-schedule"))
    scheduler = beat.scheduler
    started = time.perf_counter()
    scheduler.setup_schedule()
    assert beat.lock is not None and beat.lock.acquire()
    scheduler.load_state()
    load_seconds = time.perf_counter() - started
    loaded = rss_mb()

    now = app.now()
    cpu_ms: list[float] = []
    for _ in range(args.ticks):
        before = time.process_time_ns()
        delay = scheduler.tick(now)
        cpu_ms.append((time.process_time_ns() - before) / 1e6)
    assert delay > 0, "something was due: the idle measurement is off"
    steps: list[float] = []
    for _ in range(200):
        before = time.process_time_ns()
        beat._step()
        steps.append((time.process_time_ns() - before) / 1e6)

    # Firing: --due entries all due at the same minute (recorded in batches, then sent).
    for index in range(args.due):
        scheduler.add(f"due-{index}", "bench.noop", crontab(minute="*"), args=(index,))
    scheduler.tick(now)  # schedules them for the next minute
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    fire_started = time.perf_counter()
    fire_cpu = time.process_time()
    while scheduler.tick(boundary) == 0.0:
        pass
    fire_seconds = time.perf_counter() - fire_started
    fire_cpu = time.process_time() - fire_cpu

    figures = {
        "entries": args.entries,
        "broker": broker.split("://")[0],
        "idle_tick_cpu_ms_median": statistics.median(cpu_ms),
        "idle_tick_cpu_ms_p99": percentile(cpu_ms, 0.99),
        "idle_loop_step_cpu_ms_median": statistics.median(steps),
        "setup_and_first_load_s": load_seconds,
        "due_at_once": args.due,
        "fire_ms_per_entry": 1000 * fire_seconds / max(args.due, 1),
        "fire_cpu_ms_per_entry": 1000 * fire_cpu / max(args.due, 1),
        "rss_mb_baseline": baseline,
        "rss_mb_with_schedule_built": built,
        "rss_mb_beat_loaded": loaded,
        "rss_mb_for_beat": loaded - baseline,
    }
    print(f"beat with {args.entries:,} entries on {figures['broker']}:")
    print(
        f"  idle tick CPU: median {figures['idle_tick_cpu_ms_median']:.4f} ms, "
        f"p99 {figures['idle_tick_cpu_ms_p99']:.4f} ms   (target < 5 ms)"
    )
    print(f"  idle loop step (lock check + poll + tick): median {statistics.median(steps):.4f} ms")
    print(f"  setup + first load (writes every entry's state): {load_seconds:.1f} s")
    print(
        f"  {args.due:,} entries due at once: {figures['fire_ms_per_entry']:.3f} ms per entry "
        f"({figures['fire_cpu_ms_per_entry']:.3f} ms CPU): record, publish, confirm"
    )
    print(
        f"  RSS: {baseline:.0f} MB before, {built:.0f} MB with beat_schedule built, "
        f"{loaded:.0f} MB with beat loaded ({loaded - baseline:.0f} MB for {args.entries:,} "
        f"entries)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    beat.stop()
    scheduler.close()
    beat.lock.release()
    if broker.startswith("redis"):
        client = app.transport._sync()  # type: ignore[attr-defined]
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
