"""What task events cost: celeriac's drain rate on Redis with ``-E`` against without, one run.

Each run publishes N no-op tasks (``noop.delay()``), starts ``celeriac -A benchapp worker
-P prefork -c 2`` (with ``-E`` or without) and times the drain exactly as
``redis_bench.py``'s W2 does (first result stamped → last result stored). The two
variants alternate (without, with; then with, without …) so a change in the machine's load
hits both. While the worker runs, a listener on the ``celeryev`` channels (a plain Redis
``PSUBSCRIBE``, in this process) keeps the event messages, and counts them and the events in
them after the drain (decoding them during it would take CPU from the worker), so the
figures show what was sent. The Redis server's CPU per task (``INFO cpu``, publish and
drain) is printed too: on 2 cores it competes with the worker.

Usage::

    python benchmarks/events_bench.py [--tasks 20000] [--runs 3] [--redis-url URL]

The database is FLUSHED before every drain (default ``redis://127.0.0.1:6379/12``).
The exit status is 1 when the rate with ``-E`` is below ``--target`` (0.8) of the rate
without. It also prints the worker's CPU time per task (parent and children, from
``/proc``) with and without ``-E``: on a loaded machine the rates move with how much CPU
the worker got, the CPU per task much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine
from redis_bench import CELERIAC, REDIS_URL, Settings, System, measure_publish_drain


@dataclass
class EventsSystem(System):
    """celeriac's worker with extra command-line arguments (``-E``)."""

    extra: list[str] = field(default_factory=list)

    def worker_args(self, pool: str, concurrency: int) -> list[str]:
        return [*super().worker_args(pool, concurrency), *self.extra]


class EventCounter:
    """Counts event messages and events on ``/<db>.celeryev/*`` (a thread with a pubsub)."""

    def __init__(self, url: str) -> None:
        import redis  # type: ignore[import-untyped,unused-ignore]

        parts = urlsplit(url)
        db = int((parts.path or "/0").lstrip("/") or 0)
        self.client = redis.Redis(host=parts.hostname, port=parts.port or 6379, db=0)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(f"/{db}.celeryev/*")
        self._raw: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # only keep the raw payloads while the worker drains: decoding them here would
        # take CPU from the worker on a 2-core machine (close() decodes them afterwards)
        while not self._stop.is_set():
            item = self.pubsub.get_message(timeout=0.2)
            if item and item["type"] == "pmessage":
                self._raw.append(item["data"])

    def close(self) -> dict[str, Any]:
        import base64

        self._stop.set()
        self._thread.join(2)
        self.pubsub.close()
        self.client.close()
        events: dict[str, int] = {}
        for data in self._raw:
            body = json.loads(base64.b64decode(json.loads(data)["body"]))
            for event in body if isinstance(body, list) else [body]:
                events[event["type"]] = events.get(event["type"], 0) + 1
        return {"messages": len(self._raw), "events": dict(sorted(events.items()))}


class RedisServerCPU:
    """CPU seconds the Redis server spent (``INFO cpu``: user + system, all threads)."""

    def __init__(self, url: str) -> None:
        import redis  # type: ignore[import-untyped,unused-ignore]

        parts = urlsplit(url)  # database 0: the drain's own database must have no other client
        self.client = redis.Redis(host=parts.hostname, port=parts.port or 6379, db=0)
        self.start = self._now()

    def _now(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def close(self) -> float:
        spent = self._now() - self.start
        self.client.close()
        return spent


def one_drain(system: System, settings: Settings) -> dict[str, Any]:
    counter = EventCounter(settings.url)
    server = RedisServerCPU(settings.url)
    try:
        figures = measure_publish_drain(system, settings, "noop", True)
    finally:
        server_cpu = server.close()
        seen = counter.close()
    figures.pop("memory_samples", None)
    figures.update(seen)
    # CPU time the worker (parent and children) spent per task: unlike the rate, it does
    # not depend on how much of the machine the worker got (a loaded machine's figure)
    figures["cpu_ms_per_task"] = (
        figures["cpu_cores"] * figures["drain_total_s"] / settings.tasks * 1e3
    )
    # the Redis server shares the machine's cores with the worker (publish + drain)
    figures["redis_cpu_ms_per_task"] = server_cpu / settings.tasks * 1e3
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default=REDIS_URL, help="FLUSHED before every drain")
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    settings = Settings(
        url=args.redis_url,
        tasks=args.tasks,
        runs=args.runs,
        latency_calls=0,
        io_tasks=0,
        io_sleep=0.0,
        async_slots=100,
        celery_threads=0,
        concurrency=2,
        keep=False,
        only={"W2"},
    )
    plain = EventsSystem(CELERIAC.name, CELERIAC.module, True, [])
    with_events = EventsSystem(CELERIAC.name, CELERIAC.module, True, ["-E"])
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with -E": []}
    for index in range(args.runs):
        order = [("without", plain), ("with -E", with_events)]
        for label, system in order if index % 2 == 0 else order[::-1]:
            figures = one_drain(system, settings)
            runs[label].append(figures)
            print(
                f"run {index + 1} {label:>8}: {figures['drain_rate']:8.0f} tasks/s, "
                f"{figures['cpu_cores']:.2f} cores, {figures['cpu_ms_per_task']:.3f} ms CPU/task, "
                f"{figures['messages']} event messages "
                f"{figures['events']}",
                flush=True,
            )
    median = {
        label: statistics.median(f["drain_rate"] for f in items) for label, items in runs.items()
    }
    ratio = median["with -E"] / median["without"]
    cpu = {
        label: statistics.median(f["cpu_ms_per_task"] for f in items)
        for label, items in runs.items()
    }
    cpu_ratio = cpu["without"] / cpu["with -E"]
    print(f"\n{machine()}")
    print(f"N = {args.tasks}, prefork -c 2, median of {args.runs} runs, {args.redis_url}")
    print(f"drain without events: {median['without']:8.0f} tasks/s")
    print(f"drain with -E:        {median['with -E']:8.0f} tasks/s")
    print(f"ratio: {ratio:.0%} (target >= {args.target:.0%})")
    print(
        f"CPU per task: {cpu['without']:.3f} ms without, {cpu['with -E']:.3f} ms with -E "
        f"(the rate it allows: {cpu_ratio:.0%})"
    )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.json_path:
        payload = {
            "median": median,
            "ratio": ratio,
            "cpu_ms_per_task": cpu,
            "cpu_ratio": cpu_ratio,
            "runs": runs,
            "tasks": args.tasks,
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
