"""Remote-control latency: ``app.control.ping(destination=[node])`` round trips per broker.

Starts an in-process worker (threads pool) on memory://, a temporary SQLite file and (when
reachable) Redis, then times N sequential pings addressed to that node (the client stops at
the first reply) and N ``inspect().active()`` calls, and prints p50/p99 in milliseconds.

    python benchmarks/control_bench.py [-n 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

from celeriac import Celery
from celeriac.contrib.testing import start_worker

REDIS = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")


def brokers(tmp: str) -> list[tuple[str, str, dict[str, Any]]]:
    found: list[tuple[str, str, dict[str, Any]]] = [
        ("memory", f"memory://bench-{uuid.uuid4().hex}", {}),
        ("sqlite", f"sqlite:///{tmp}/bench.db", {}),
    ]
    try:
        import redis

        redis.Redis.from_url(f"redis://{REDIS}/9").ping()
        prefix = {"global_keyprefix": f"bench{uuid.uuid4().hex[:6]}_"}
        found.append(
            (
                "redis",
                f"redis://{REDIS}/9",
                {
                    "broker_transport_options": prefix,
                    "result_backend_transport_options": prefix,
                },
            )
        )
    except Exception:
        pass
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(kind: str, url: str, settings: dict[str, Any], count: int) -> dict[str, Any]:
    app = Celery("bench", broker=url, backend=url, **settings)
    node = f"bench-{uuid.uuid4().hex[:6]}@bench"
    with start_worker(app, pool="threads", concurrency=2, hostname=node):
        control = app.control
        for _ in range(5):
            control.ping(destination=[node], timeout=5)
        timings: dict[str, list[float]] = {"ping": [], "inspect_active": []}
        for _ in range(count):
            started = time.perf_counter()
            assert control.ping(destination=[node], timeout=5)
            timings["ping"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            assert control.inspect(destination=[node], timeout=5).active() is not None
            timings["inspect_active"].append((time.perf_counter() - started) * 1000)
    app.close()
    return {
        name: {
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
        }
        for name, values in timings.items()
    } | {"broker": kind, "n": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, url, settings in brokers(tmp):
            result = run(kind, url, settings, args.n)
            results.append(result)
            print(
                f"{kind:<7} ping p50 {result['ping']['p50_ms']:7.2f} ms  "
                f"p99 {result['ping']['p99_ms']:7.2f} ms   "
                f"inspect.active p50 {result['inspect_active']['p50_ms']:7.2f} ms  "
                f"p99 {result['inspect_active']['p99_ms']:7.2f} ms"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
