"""Prometheus metrics under celery-exporter's names, so existing Grafana boards work.

``celery_task_<event>_total`` counters and the ``celery_task_runtime`` histogram carry
the labels ``name``, ``hostname`` and ``queue_name``; ``celery_worker_up`` and
``celery_worker_tasks_active`` carry ``hostname``; ``celery_queue_length`` carries
``queue_name``. Each dashboard has its own registry (tests run several in one process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from celeriac.dashboard.workers import WorkerRegistry

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_TASK_EVENTS: Final = ("sent", "received", "started", "succeeded", "failed", "retried",
                       "revoked", "rejected")  # fmt: skip
_TASK_LABELS: Final = ("name", "hostname", "queue_name")
#: celery-exporter's default runtime buckets (seconds).
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                   7.5, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)  # fmt: skip


class Metrics:
    """The dashboard's metrics and the registry ``/metrics`` renders."""

    def __init__(self, default_queue: str = "celery") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.default_queue = default_queue
        self.task_events = {
            kind: Counter(
                f"celery_task_{kind}",
                f"Task {kind} events seen.",
                _TASK_LABELS,
                registry=self.registry,
            )
            for kind in _TASK_EVENTS
        }
        self.runtime = Histogram(
            "celery_task_runtime",
            "Task runtime in seconds (task-succeeded events).",
            _TASK_LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.worker_up = Gauge(
            "celery_worker_up", "1 while the worker sends heartbeats.", ["hostname"],
            registry=self.registry,
        )  # fmt: skip
        self.worker_active = Gauge(
            "celery_worker_tasks_active", "Tasks the worker is executing.", ["hostname"],
            registry=self.registry,
        )  # fmt: skip
        self.active_workers = Gauge(
            "celery_active_worker_count", "Workers online.", registry=self.registry
        )
        self.queue_length = Gauge(
            "celery_queue_length", "Messages waiting in the queue.", ["queue_name"],
            registry=self.registry,
        )  # fmt: skip

    def task_event(
        self, kind: str, name: str | None, hostname: str, queue: str | None, runtime: float | None
    ) -> None:
        """Count one task event (``kind`` without the ``task-`` prefix)."""
        counter = self.task_events.get(kind)
        if counter is None:
            return
        labels = (name or "unknown", hostname, queue or self.default_queue)
        counter.labels(*labels).inc()
        if kind == "succeeded" and runtime is not None:
            self.runtime.labels(*labels).observe(runtime)

    def update_workers(self, workers: WorkerRegistry) -> None:
        """Set the worker gauges from the registry (called before each scrape)."""
        for hostname, worker in workers.workers.items():
            online = worker.online()
            self.worker_up.labels(hostname).set(1 if online else 0)
            self.worker_active.labels(hostname).set(worker.active if online else 0)
        self.active_workers.set(workers.online_count())

    def update_queues(self, lengths: Mapping[str, int]) -> None:
        """Set ``celery_queue_length`` for each queue."""
        for queue, length in lengths.items():
            self.queue_length.labels(queue).set(length)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
