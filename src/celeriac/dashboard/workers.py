"""What the dashboard knows of each worker: its heartbeats, its task counts and its stats.

A worker is online while a heartbeat came within twice its ``freq`` (Celery's rule) and
no ``worker-offline`` followed. ``stats``/``active_queues`` replies from remote control
(:meth:`WorkerRegistry.merge_inspect`) add the pool, concurrency and queues consumed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

__all__ = ["WorkerInfo", "WorkerRegistry"]

_HEARTBEAT_FIELDS = (
    "freq",
    "sw_ident",
    "sw_ver",
    "sw_sys",
    "active",
    "processed",
    "loadavg",
    "pid",
)


@dataclass(slots=True)
class WorkerInfo:
    """One worker as the pages and ``/api/workers`` show it."""

    hostname: str
    last_heartbeat: float = 0.0
    offline: bool = False
    freq: float = 2.0
    sw_ident: str = ""
    sw_ver: str = ""
    sw_sys: str = ""
    pid: int | None = None
    active: int = 0
    processed: int = 0
    loadavg: list[float] = field(default_factory=list)
    task_counts: dict[str, int] = field(default_factory=dict)
    pool: dict[str, object] = field(default_factory=dict)
    queues: list[str] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)

    def online(self, now: float | None = None) -> bool:
        """True while heartbeats keep coming (within ``2 * freq``) and no offline event came."""
        now = time.time() if now is None else now
        return not self.offline and now < self.last_heartbeat + max(self.freq, 0.5) * 2

    def as_dict(self, now: float | None = None) -> dict[str, object]:
        """JSON data, with ``status`` (``online``/``offline``) added."""
        data = asdict(self)
        data["status"] = "online" if self.online(now) else "offline"
        data["concurrency"] = self.pool.get("max-concurrency")
        return data


class WorkerRegistry:
    """Workers by hostname, updated from worker events, task events and inspect replies."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerInfo] = {}

    def get(self, hostname: str) -> WorkerInfo:
        """The worker ``hostname`` (created on first mention)."""
        worker = self.workers.get(hostname)
        if worker is None:
            worker = self.workers[hostname] = WorkerInfo(hostname)
        return worker

    def on_worker_event(self, event: Mapping[str, object]) -> WorkerInfo | None:
        """Apply ``worker-online``/``-heartbeat``/``-offline``; the worker, or None."""
        hostname = event.get("hostname")
        kind = event.get("type")
        if not isinstance(hostname, str) or not isinstance(kind, str):
            return None
        worker = self.get(hostname)
        for name in _HEARTBEAT_FIELDS:
            if name in event:
                setattr(worker, name, event[name])
        # Liveness goes by this receiver's clock (Celery's ``local_received``): a worker
        # whose clock is ahead or behind must not look dead or alive for it.
        worker.last_heartbeat = time.time()
        worker.offline = kind == "worker-offline"
        return worker

    def count_task(self, hostname: str, event_type: str) -> None:
        """Count one task event for the worker that sent it (Flower's per-worker counts)."""
        counts = self.get(hostname).task_counts
        key = event_type.removeprefix("task-")
        counts[key] = counts.get(key, 0) + 1

    def merge_inspect(self, stats: Mapping[str, object], queues: Mapping[str, object]) -> None:
        """Add ``stats`` and ``active_queues`` replies (``{hostname: reply}``)."""
        for hostname, reply in stats.items():
            if isinstance(reply, dict):
                worker = self.get(hostname)
                worker.stats = reply
                pool = reply.get("pool")
                worker.pool = pool if isinstance(pool, dict) else {}
        for hostname, reply in queues.items():
            if isinstance(reply, list):
                names = [q.get("name") for q in reply if isinstance(q, dict)]
                self.get(hostname).queues = [str(n) for n in names if n]

    def restore(self, saved: Mapping[str, Mapping[str, object]]) -> None:
        """Bring back workers saved before a restart (they show offline until they beat)."""
        for hostname, info in saved.items():
            worker = self.get(hostname)
            for name in ("sw_ident", "sw_ver", "sw_sys", "processed", "queues", "pool", "freq"):
                if name in info:
                    setattr(worker, name, info[name])
            seen = info.get("last_heartbeat")
            worker.last_heartbeat = float(seen) if isinstance(seen, int | float) else 0.0

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Every worker as JSON data, by hostname."""
        now = time.time()
        return {h: w.as_dict(now) for h, w in sorted(self.workers.items())}

    def online_count(self) -> int:
        """How many workers are online now."""
        now = time.time()
        return sum(1 for w in self.workers.values() if w.online(now))
