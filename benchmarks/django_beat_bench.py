"""The database scheduler (``beat -S django``) with 100,000 periodic tasks in the table.

    python benchmarks/django_beat_bench.py                        # SQLite file
    python benchmarks/django_beat_bench.py --database postgresql://postgres@127.0.0.1/bench

Fills the table with N rows (a third intervals of 1 min to 1 day, a third
``crontab(minute=m, hour=h)`` in one of three time zones, a third ``crontab(minute='*/k')``),
starts a real :class:`celeriac.beat.service.Beat` with ``scheduler="django"`` on a SQLite
broker (leader lock, broker state store), takes the lock and loads the state, then
measures:

- the idle loop step (``poll()`` + ``tick()`` with nothing due and nothing changed): CPU
  and wall time, and the queries it makes (one: the trigger row);
- the reaction to one row edited as the admin does (``row.save()``): the ``poll()`` that
  applies it, its queries, and the wall time from the commit until the running beat loop
  (a thread, ``beat_max_loop_interval`` = 5 s) has the new entry;
- for comparison, a full reload (what django-celery-beat does on every change).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DB_ENV = "CELERIAC_BENCH_DB"


def configure(database: str | None, directory: Path) -> None:
    import django
    from django.conf import settings

    if database:
        from urllib.parse import urlsplit

        parts = urlsplit(database)
        db = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "postgres",
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
        }
    else:
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / "db.sqlite3")}
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "celeriac.contrib.django.beat",
        ],
        DATABASES={"default": db},
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()


def fill(count: int, seed: int = 7) -> None:
    from django.core.management import call_command

    from celeriac.contrib.django.beat.models import (
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )

    call_command("migrate", verbosity=0)
    PeriodicTask.objects.all().delete()
    rng = random.Random(seed)
    intervals: dict[int, IntervalSchedule] = {}
    crons: dict[tuple[str, str, str], CrontabSchedule] = {}
    zones = ("UTC", "Europe/Kyiv", "America/New_York")
    rows = []
    for index in range(count):
        kind = index % 3
        row = PeriodicTask(name=f"entry-{index}", task="bench.noop", args=f"[{index}]")
        if kind == 0:
            seconds = rng.randint(1, 1440) * 60
            if seconds not in intervals:
                intervals[seconds] = IntervalSchedule(every=seconds, period="seconds")
            row.interval = intervals[seconds]
        else:
            if kind == 1:
                key = (str(rng.randint(0, 59)), str(rng.randint(0, 23)), zones[index % 3])
            else:
                key = (f"*/{rng.randint(2, 30)}", "*", "UTC")
            if key not in crons:
                crons[key] = CrontabSchedule(minute=key[0], hour=key[1], timezone=key[2])
            row.crontab = crons[key]
        rows.append(row)
    # the schedules first, in bulk (no signals: the trigger is moved once at the end)
    IntervalSchedule.objects.bulk_create(intervals.values(), batch_size=5000)
    CrontabSchedule.objects.bulk_create(crons.values(), batch_size=5000)
    for row in rows:
        row.interval_id = row.interval.pk if row.interval else None
        row.crontab_id = row.crontab.pk if row.crontab else None
    PeriodicTask.objects.bulk_create(rows, batch_size=5000)
    PeriodicTasks.update_changed()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(value: float) -> float:
    return round(value * 1000, 3)


def measure_idle(beat: Any, steps: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    scheduler = beat.scheduler
    cpu, wall = [], []
    for _ in range(steps):
        c0, w0 = time.process_time(), time.perf_counter()
        scheduler.poll()
        scheduler.tick()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    with CaptureQueriesContext(connection) as queries:
        scheduler.poll()
        scheduler.tick()
    return {
        "idle_step_cpu_ms_median": ms(statistics.median(cpu)),
        "idle_step_cpu_ms_p99": ms(percentile(cpu, 0.99)),
        "idle_step_wall_ms_median": ms(statistics.median(wall)),
        "idle_step_queries": len(queries),
    }


def measure_edit(beat: Any) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from celeriac.contrib.django.beat.models import PeriodicTask

    scheduler = beat.scheduler
    row = PeriodicTask.objects.get(name="entry-3001")
    row.args = '["edited"]'
    row.save()
    with CaptureQueriesContext(connection) as queries:
        c0, w0 = time.process_time(), time.perf_counter()
        scheduler.poll()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    assert list(scheduler.schedule["entry-3001"].args) == ["edited"]
    c0, w0 = time.process_time(), time.perf_counter()
    scheduler.reload()
    full_cpu, full_wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "edit_poll_cpu_ms": ms(cpu),
        "edit_poll_wall_ms": ms(wall),
        "edit_poll_queries": len(queries),
        "full_reload_wall_s": round(full_wall, 3),
        "full_reload_cpu_s": round(full_cpu, 3),
    }


def measure_reaction(beat: Any, edits: int) -> dict[str, Any]:
    """Edits committed while the real loop runs (on a thread); wall time until applied."""
    from celeriac.contrib.django.beat.models import PeriodicTask

    thread = threading.Thread(target=beat.run, daemon=True)
    thread.start()
    time.sleep(1.0)
    delays = []
    for attempt in range(edits):
        row = PeriodicTask.objects.get(name=f"entry-{4000 + attempt}")
        row.args = f'["reaction-{attempt}"]'
        row.save()
        saved = time.perf_counter()
        while list(beat.scheduler.schedule[row.name].args) != [f"reaction-{attempt}"]:
            time.sleep(0.005)
        delays.append(time.perf_counter() - saved)
        time.sleep(random.uniform(0, 1))
    beat.stop()
    thread.join(30)
    return {
        "reaction_s_median": round(statistics.median(delays), 3),
        "reaction_s_max": round(max(delays), 3),
        "max_interval_s": beat.scheduler.max_interval,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="celeriac-django-beat-bench-"))
    configure(args.database, directory)

    from celeriac import Celery
    from celeriac.beat.service import Beat

    t0 = time.perf_counter()
    fill(args.rows)
    figures: dict[str, Any] = {
        "rows": args.rows,
        "database": "postgresql" if args.database else "sqlite",
        "fill_s": round(time.perf_counter() - t0, 2),
    }
    app = Celery("bench", broker=f"sqlite:///{directory / 'broker.db'}")
    beat = Beat(app, scheduler="django", max_interval=5.0)
    t0 = time.perf_counter()
    beat.scheduler.setup_schedule()
    figures["start_load_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    assert beat.lock is not None and beat.lock.acquire()
    beat.scheduler.load_state()
    beat.scheduler.tick()
    figures["leader_load_state_s"] = round(time.perf_counter() - t0, 2)
    figures.update(measure_idle(beat, args.steps))
    figures.update(measure_edit(beat))
    beat.lock.release()
    figures.update(measure_reaction(beat, args.edits))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
