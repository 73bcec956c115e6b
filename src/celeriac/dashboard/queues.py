"""Queue lengths read from the broker on a timer (kept as samples for the graphs and set
on ``celery_queue_length``); the dead letters are ``deadletters.py``'s.

The queues watched are the app's declared queues plus those the workers report
consuming (``active_queues``). A transport without the :class:`Admin` capability has no
lengths to show; the page says so.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from celeriac.config.queues import declared_queues
from celeriac.dashboard.metrics import Metrics
from celeriac.dashboard.store import TaskStore
from celeriac.dashboard.workers import WorkerRegistry
from celeriac.transports.contracts import Admin
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["QueueMonitor"]

logger = own_logger(__name__)


class QueueMonitor:
    """Sample queue lengths every ``interval`` seconds."""

    def __init__(
        self,
        app: Celery,
        store: TaskStore,
        workers: WorkerRegistry,
        metrics: Metrics,
        interval: float = 5.0,
    ) -> None:
        self.app = app
        self.store = store
        self.workers = workers
        self.metrics = metrics
        self.interval = interval
        self.lengths: dict[str, int] = {}
        self.sampled_at = 0.0

    @property
    def admin(self) -> Admin | None:
        """The broker's admin capability, or None when the transport has none."""
        transport = self.app.transport
        return transport if isinstance(transport, Admin) else None

    def queue_names(self) -> list[str]:
        """The queues to watch, sorted."""
        names = set(declared_queues(self.app.conf))
        for worker in self.workers.workers.values():
            names.update(worker.queues)
        return sorted(names)

    def consumers(self) -> dict[str, list[str]]:
        """Queue -> hostnames of the online workers consuming it."""
        found: dict[str, list[str]] = {}
        for worker in self.workers.workers.values():
            if worker.online():
                for queue in worker.queues:
                    found.setdefault(queue, []).append(worker.hostname)
        return found

    def sample(self) -> dict[str, int]:
        """Read every queue's length now, record it, and return it (sync)."""
        admin = self.admin
        if admin is None:
            return {}
        lengths: dict[str, int] = {}
        for name in self.queue_names():
            try:
                lengths[name] = admin.queue_length(name)
            except Exception as exc:
                logger.warning("dashboard: cannot read the length of queue %s: %s", name, exc)
        now = time.time()
        self.lengths, self.sampled_at = lengths, now
        self.metrics.update_queues(lengths)
        if lengths:
            self.store.add_queue_samples(now, lengths)
        return lengths

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.sample)
            except Exception as exc:
                logger.warning("dashboard: sampling queue lengths failed: %s", exc)
            await asyncio.sleep(self.interval)
