"""The dashboard under a steady event stream, with a big history, beside Flower.

    python benchmarks/dashboard_bench.py          # 1,000,000 tasks stored, 1,000 events/s, 60 s
    python benchmarks/dashboard_bench.py --tasks 50000 --duration 10 --no-flower   # quick

1. Fills a SQLite history file with ``--tasks`` finished tasks (10 task names, 4 workers,
   5 % failures) through the dashboard's own store.
2. Starts ``celeriac dashboard`` on it (a subprocess, Redis db ``--redis-db``) and, unless
   ``--no-flower``, ``celery flower`` on the same broker, both listening to ``celeryev``.
3. Publishes Celery-shaped events straight to Redis at ``--rate`` events/s for
   ``--duration`` s: ``task-received``/``task-started``/``task-succeeded`` (or
   ``-failed``) in ``task.multi`` batches every 20 ms, as a Celery worker sends them, and a
   heartbeat from each of 4 workers every 2 s.
4. Meanwhile, for each server: API latency (a client looping over the task list, filters,
   a deep page, workers and one task's detail), the time until a new task is visible
   (``/api/task/info/<id>`` answers 200, polled every 50 ms; and, on celeriac's dashboard,
   its first update on the live stream ``/api/v1/stream``: ``dashboard_visibility.py``;
   one marker task a second, p50/p95/max), and the server's RSS and CPU every second.

Writes the figures as JSON (``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dashboard_visibility import summary, watch_stream  # noqa: E402

from celeriac.dashboard.records import apply_event, new_row  # noqa: E402
from celeriac.dashboard.store import TaskStore  # noqa: E402
from celeriac.protocol.envelope import dumps_envelope  # noqa: E402
from celeriac.protocol.events import build_event_message, event  # noqa: E402

NAMES = [f"bench.task{i}" for i in range(10)]
#: Redis hash of marker task ids -> the wall time they were published (for the watchers).
MARKERS = "dashbench:markers"
HOSTS = [f"bench{i}@host" for i in range(4)]


# -- 1. the history ------------------------------------------------------------------------
def task_rows(count: int, start: float) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        tid = str(uuid.uuid4())
        at = start + i * 0.01
        name, host = NAMES[i % len(NAMES)], HOSTS[i % len(HOSTS)]
        failed = i % 20 == 0
        row = new_row(tid)
        for kind, extra, when in (
            (
                "task-received",
                {
                    "name": name,
                    "args": f"({i}, {i % 7})",
                    "kwargs": "{}",
                    "root_id": tid,
                    "parent_id": None,
                    "retries": 0,
                },
                at,
            ),
            ("task-started", {}, at + 0.001),
            (
                "task-failed",
                {"exception": "ValueError('bench')", "traceback": "Traceback..."},
                at + 0.05,
            )
            if failed
            else ("task-succeeded", {"result": str(i), "runtime": 0.049}, at + 0.05),
        ):
            apply_event(
                row, {"type": kind, "uuid": tid, "hostname": host, "timestamp": when, **extra}
            )
        rows.append(row)
    return rows


def fill(path: Path, count: int) -> float:
    started = time.perf_counter()
    store = TaskStore(str(path), max_tasks=count)
    have = store.approximate_count
    begin = time.time() - 86400
    chunk = 50_000
    for offset in range(have, count, chunk):
        n = min(chunk, count - offset)
        store.upsert(task_rows(n, begin + offset * 0.01), new=n)
        print(f"  filled {offset + n:,} / {count:,}", file=sys.stderr, flush=True)
    store.close()
    return time.perf_counter() - started


# -- 3. the event stream -------------------------------------------------------------------
class Publisher:
    """Celery-shaped events published straight to Redis PUB/SUB, at a fixed rate."""

    def __init__(self, url: str, db: int, rate: int) -> None:
        self.client = redis.Redis.from_url(f"{url}/{db}")
        self.channel = f"/{db}.celeryev/task.multi"
        self.worker_channel = f"/{db}.celeryev/worker.heartbeat"
        self.rate = rate
        self.clock = 0
        self.sent = 0
        self._open: list[tuple[str, str, int]] = []  # (uuid, host, next step)

    def _event(self, kind: str, host: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.clock += 1
        return event(kind, fields, hostname=host, pid=4242, clock=self.clock, offset=0.0)

    def _publish(self, channel: str, body: Any, host: str) -> None:
        message = build_event_message(body, hostname=host)
        message.properties["delivery_info"] = {
            "exchange": "celeryev",
            "routing_key": channel.rsplit("/", 1)[1],
        }
        self.client.publish(channel, dumps_envelope(message))

    def heartbeats(self) -> None:
        for host in HOSTS:
            body = self._event(
                "worker-heartbeat",
                host,
                {
                    "freq": 2.0,
                    "active": 1,
                    "processed": self.sent // 3,
                    "loadavg": [0.5, 0.5, 0.5],
                    "sw_ident": "py-celery",
                    "sw_ver": "5.7.0",
                    "sw_sys": "Linux",
                },
            )
            self._publish(self.worker_channel, body, host)

    def batch(self, size: int, marker: bool) -> None:
        events: dict[str, list[dict[str, Any]]] = {}
        for _ in range(size):
            if len(self._open) < 50 or random.random() < 0.34:
                tid = str(uuid.uuid4())
                host = random.choice(HOSTS)
                n = self.sent
                events.setdefault(host, []).append(
                    self._event(
                        "task-received",
                        host,
                        {
                            "uuid": tid,
                            "name": NAMES[n % len(NAMES)],
                            "args": f"({n},)",
                            "kwargs": "{}",
                            "root_id": tid,
                            "parent_id": None,
                            "retries": 0,
                            "eta": None,
                            "expires": None,
                        },
                    )
                )
                if marker:
                    self.client.hset(MARKERS, tid, time.time())
                    marker = False
                self._open.append((tid, host, 1))
            else:
                index = random.randrange(len(self._open))
                tid, host, step = self._open[index]
                if step == 1:
                    events.setdefault(host, []).append(
                        self._event("task-started", host, {"uuid": tid})
                    )
                    self._open[index] = (tid, host, 2)
                else:
                    if random.random() < 0.05:
                        end = self._event(
                            "task-failed",
                            host,
                            {
                                "uuid": tid,
                                "exception": "ValueError('x')",
                                "traceback": "Traceback...",
                            },
                        )
                    else:
                        end = self._event(
                            "task-succeeded", host, {"uuid": tid, "result": "1", "runtime": 0.01}
                        )
                    events.setdefault(host, []).append(end)
                    self._open[index] = self._open[-1]
                    self._open.pop()
            self.sent += 1
        for host, body in events.items():
            self._publish(self.channel, body, host)

    def run(self, duration: float) -> float:
        """Publish for ``duration`` seconds; return the achieved events/s."""
        tick = 0.02
        per_tick = self.rate * tick
        started = time.monotonic()
        next_tick, next_marker, next_beat = started, started, started
        carry = 0.0
        while (now := time.monotonic()) < started + duration:
            if now >= next_beat:
                self.heartbeats()
                next_beat += 2.0
            carry += per_tick
            size = int(carry)
            carry -= size
            marker = now >= next_marker
            if marker:
                next_marker += 1.0
            self.batch(size, marker)
            next_tick += tick
            time.sleep(max(0.0, next_tick - time.monotonic()))
        return self.sent / (time.monotonic() - started)


# -- 4. the measurements -------------------------------------------------------------------
class Target:
    """One server under test: its process, its API calls and what was measured."""

    def __init__(
        self, name: str, proc: subprocess.Popen[bytes], base: str, paths: list[str]
    ) -> None:
        self.name = name
        self.proc = proc
        self.base = base
        self.paths = paths
        self.latencies: dict[str, list[float]] = {p: [] for p in paths}
        self.errors = 0
        self.visible: list[float] = []
        self.missed = 0
        self.streamed: list[float] = []
        self.stream_missed = 0
        self.resyncs = 0
        self.rss: list[float] = []
        self.cpu: list[float] = []
        self.lag: list[float] = []
        self.publish_lag: list[float] = []
        self.flush: list[float] = []
        self.stop = threading.Event()

    def process_tree(self) -> list[psutil.Process]:
        parent = psutil.Process(self.proc.pid)
        return [parent, *parent.children(recursive=True)]

    def sample_resources(self) -> None:
        processes = self.process_tree()
        for p in processes:
            p.cpu_percent(None)
        while not self.stop.wait(1.0):
            with contextlib.suppress(psutil.Error):
                self.rss.append(sum(p.memory_info().rss for p in processes) / 2**20)
                self.cpu.append(sum(p.cpu_percent(None) for p in processes))
            if self.name.startswith("celeriac"):
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    health = httpx.get(self.base + "/healthz", timeout=5).json()
                    self.lag.append(float(health["ingest_lag_seconds"]))
                    if "publish_lag_seconds" in health:
                        self.publish_lag.append(float(health["publish_lag_seconds"]))
                    self.flush.append(float(health["last_flush_seconds"]))

    def start_clients(self, broker: str) -> None:
        """The API client and the watcher, each in a process of its own (no shared GIL)."""
        self.results: multiprocessing.Queue[Any] = multiprocessing.Queue()
        self.stopping = multiprocessing.Event()
        self.clients = [
            multiprocessing.Process(
                target=hammer, args=(self.base, self.paths, self.stopping, self.results)
            ),
            multiprocessing.Process(
                target=watch, args=(self.base, broker, self.stopping, self.results)
            ),
        ]
        if self.name.startswith("celeriac"):  # the live stream (Flower's is a websocket)
            self.clients.append(
                multiprocessing.Process(
                    target=watch_stream,
                    args=(self.base, broker, MARKERS, self.stopping, self.results),
                )
            )
        for client in self.clients:
            client.start()

    def stop_clients(self) -> None:
        self.stopping.set()
        for _ in self.clients:
            kind, payload = self.results.get(timeout=60)
            if kind == "latencies":
                self.latencies, self.errors = payload
            elif kind == "stream":
                self.streamed, self.stream_missed, self.resyncs = payload
            else:
                self.visible, self.missed = payload
        for client in self.clients:
            client.join(10)

    def report(self) -> dict[str, Any]:
        # A substring search scans the rows; it is reported on its own, not in the headline.
        every = sorted(
            v for path, values in self.latencies.items() if "search=" not in path for v in values
        )
        per_path = {
            p: {
                "count": len(v),
                "p50_ms": 1000 * pct(sorted(v), 0.5),
                "p95_ms": 1000 * pct(sorted(v), 0.95),
            }
            for p, v in self.latencies.items()
        }
        return {
            "requests": len(every),
            "errors": self.errors,
            "api_p50_ms": 1000 * pct(every, 0.5),
            "api_p95_ms": 1000 * pct(every, 0.95),
            "api_p99_ms": 1000 * pct(every, 0.99),
            "per_path": per_path,
            **summary(self.visible, "visible"),
            "visible_count": len(self.visible),
            "missed_markers": self.missed,
            **summary(self.streamed, "stream_visible"),
            "stream_visible_count": len(self.streamed),
            "stream_missed_markers": self.stream_missed,
            "stream_resyncs": self.resyncs,
            "rss_mb_max": max(self.rss, default=0.0),
            "rss_mb_end": self.rss[-1] if self.rss else 0.0,
            "cpu_percent_mean": statistics.fmean(self.cpu) if self.cpu else 0.0,
            "ingest_lag_p50_s": pct(sorted(self.lag), 0.5),
            "ingest_lag_max_s": max(self.lag, default=float("nan")),
            **summary(self.publish_lag, "publish_lag"),
            "flush_p50_s": pct(sorted(self.flush), 0.5),
            "flush_max_s": max(self.flush, default=float("nan")),
            "load_average_1m": os.getloadavg()[0],
        }


def hammer(base: str, paths: list[str], stopping: Any, results: Any) -> None:
    """Loop over ``paths`` (one request at a time, 50 ms apart) until told to stop."""
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stopping.is_set():
            for path in paths:
                started = time.perf_counter()
                try:
                    if client.get(path).status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies[path].append(time.perf_counter() - started)
                time.sleep(0.05)
    results.put(("latencies", (latencies, errors)))


def watch(base: str, broker: str, stopping: Any, results: Any) -> None:
    """Poll ``/api/task/info/<marker>`` until each marker task answers 200 (or 10 s pass)."""
    markers = redis.Redis.from_url(broker)
    seen: set[str] = set()
    visible: list[float] = []
    missed = 0
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stopping.is_set():
            for raw, sent_at in markers.hgetall(MARKERS).items():
                tid, sent = raw.decode(), float(sent_at)
                if tid in seen:
                    continue
                if time.time() - sent > 10:
                    seen.add(tid)
                    missed += 1
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"/api/task/info/{tid}").status_code == 200:
                        seen.add(tid)
                        visible.append(time.time() - sent)
            time.sleep(0.05)
    results.put(("visible", (visible, missed)))


def publish(broker_base: str, db: int, rate: int, duration: float, results: Any) -> None:
    """The event stream, in a process of its own; puts the achieved rate."""
    results.put(Publisher(broker_base, db, rate).run(duration))


def measure_searches(base: str) -> dict[str, float]:
    """Median of three runs of each kind of search (after the stream, on the full store)."""
    kinds = {
        "rare term, newest 100,000": "/api/v1/tasks?search=(4242,&limit=50",
        "common term, newest 100,000": "/api/v1/tasks?search=bench&limit=50",
        "rare term, one hour": f"/api/v1/tasks?search=(4242,&since={time.time() - 3600}&limit=50",
    }
    found = {}
    with httpx.Client(base_url=base, timeout=300) as client:
        for label, path in kinds.items():
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                client.get(path)
                runs.append(1000 * (time.perf_counter() - started))
            found[label] = statistics.median(runs)
    return found


def pct(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, int(fraction * len(values) + 0.5) - 1))]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks stored before the run")
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of events")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--dir", type=Path, default=None, help="where the history file goes")
    parser.add_argument("--no-flower", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "dashboard-bench.json"
    )
    args = parser.parse_args()

    directory = args.dir or Path(tempfile.mkdtemp(prefix="dashbench"))
    directory.mkdir(parents=True, exist_ok=True)
    history = directory / "history.sqlite3"
    broker = f"{args.redis}/{args.redis_db}"
    print(f"filling {history} with {args.tasks:,} tasks", file=sys.stderr)
    fill_seconds = fill(history, args.tasks)
    size_mb = sum(f.stat().st_size for f in directory.glob("history.sqlite3*")) / 2**20
    redis.Redis.from_url(broker).flushdb()

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FLOWER_UNAUTHENTICATED_API": "true"}
    targets: list[Target] = []
    port = free_port()
    dash = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeriac",
            "-b",
            broker,
            "--result-backend",
            broker,
            "dashboard",
            "--port",
            str(port),
            "--db",
            str(history),
            "--max-tasks",
            str(args.tasks),
            "--inspect-interval",
            "0",
            "--no-enable-events",
            "-l",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    some = NAMES[3]
    dash_paths = [
        "/api/v1/tasks?limit=50",
        "/api/v1/tasks?state=FAILURE&limit=50",
        f"/api/v1/tasks?name={some}&limit=50",
        "/api/v1/tasks?offset=5000&limit=50",
        "/api/v1/tasks?sort=-runtime&limit=50",
        "/api/v1/workers",
        "/api/tasks?limit=100",
    ]
    targets.append(Target("celeriac dashboard", dash, f"http://127.0.0.1:{port}", dash_paths))
    if not args.no_flower:
        fport = free_port()
        flower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-b",
                broker,
                "flower",
                f"--port={fport}",
                "--address=127.0.0.1",
                "--enable_events=False",
                "--logging=warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        flower_paths = [
            "/api/tasks?limit=50",
            "/api/tasks?state=FAILURE&limit=50",
            f"/api/tasks?taskname={some}&limit=50",
            "/api/tasks?offset=5000&limit=50",
            "/api/tasks?sort_by=-runtime&limit=50",
            "/api/tasks?limit=100",
        ]
        targets.append(Target("Flower 2.x", flower, f"http://127.0.0.1:{fport}", flower_paths))
    try:
        started = time.monotonic()
        wait_http(f"http://127.0.0.1:{port}/healthz")
        startup = time.monotonic() - started
        for target in targets[1:]:
            wait_http(target.base + "/api/tasks?limit=1")
        time.sleep(2.0)  # both subscribed to celeryev
        threads = []
        for target in targets:
            target.start_clients(broker)
            thread = threading.Thread(target=target.sample_resources, daemon=True)
            thread.start()
            threads.append(thread)
        rates: multiprocessing.Queue[float] = multiprocessing.Queue()
        publisher = multiprocessing.Process(
            target=publish, args=(args.redis, args.redis_db, args.rate, args.duration, rates)
        )
        publisher.start()
        achieved = rates.get(timeout=args.duration + 120)
        publisher.join(10)
        time.sleep(2.0)
        for target in targets:
            target.stop.set()
            target.stop_clients()
        for thread in threads:
            thread.join(15)
        searches = measure_searches(targets[0].base)
        result = {
            "command": " ".join(sys.argv),
            "tasks_stored": args.tasks,
            "fill_seconds": fill_seconds,
            "history_mb": size_mb,
            "dashboard_startup_s": startup,
            "rate_asked": args.rate,
            "rate_achieved": achieved,
            "duration_s": args.duration,
            "cpus": os.cpu_count(),
            "servers": {t.name: t.report() for t in targets},
            "dashboard_search_ms": searches,
        }
    finally:
        for target in targets:
            target.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                target.proc.wait(15)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print("\nserver | API p50 ms | API p95 ms | visible p50/p95/max s (API) | "
          "(stream) | RSS max MB | CPU %")  # fmt: skip
    for name, r in result["servers"].items():
        seen = "/".join(f"{r[f'visible_{k}_s']:.2f}" for k in ("p50", "p95", "max"))
        streamed = "/".join(f"{r.get(f'stream_visible_{k}_s', float('nan')):.2f}"
                            for k in ("p50", "p95", "max"))  # fmt: skip
        print(name, f"{r['api_p50_ms']:.2f}", f"{r['api_p95_ms']:.2f}", seen, streamed,
              f"{r['rss_mb_max']:.2f}", f"{r['cpu_percent_mean']:.2f}", sep=" | ")  # fmt: skip


if __name__ == "__main__":
    main()
