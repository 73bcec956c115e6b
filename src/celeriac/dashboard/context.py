"""Everything one running dashboard holds, handed to the routes as ``request.app.state.dash``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from celeriac.dashboard.auth import AuthConfig
from celeriac.dashboard.deadletters import DeadLetterDesk
from celeriac.dashboard.hub import Hub
from celeriac.dashboard.ingest import Ingestor
from celeriac.dashboard.metrics import Metrics
from celeriac.dashboard.queues import QueueMonitor
from celeriac.dashboard.store import TaskStore
from celeriac.dashboard.workers import WorkerRegistry

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["DashboardContext", "DashboardOptions"]


@dataclass(slots=True)
class DashboardOptions:
    """The command line's choices.

    Attributes:
        store_url: where the history lives (a SQLite file path, or a postgresql:// URL).
        max_tasks, max_age: the history's bounds (rows; seconds, None for no limit).
        auth: credentials and ``metrics_public``.
        receive_events: read the broker's events (off in tests that feed recorded ones).
        enable_events: broadcast ``enable_events`` every few seconds, as Flower does.
        inspect_interval: seconds between ``stats``/``active_queues`` polls (0: never).
        queue_interval: seconds between queue-length samples (0: never).
        seed: how many results to read from the result backend at start.
    """

    store_url: str = "celeriac-dashboard.sqlite3"
    max_tasks: int = 1_000_000
    max_age: float | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    receive_events: bool = True
    enable_events: bool = True
    inspect_interval: float = 10.0
    queue_interval: float = 5.0
    seed: int = 10_000


@dataclass(slots=True)
class DashboardContext:
    """The app, the store and the live parts of one dashboard."""

    app: Celery
    options: DashboardOptions
    store: TaskStore
    workers: WorkerRegistry
    metrics: Metrics
    hub: Hub
    ingestor: Ingestor
    queues: QueueMonitor
    dead_letters: DeadLetterDesk

    @classmethod
    def create(cls, app: Celery, options: DashboardOptions) -> DashboardContext:
        """Open the store and wire the parts together."""
        store = TaskStore(options.store_url, max_tasks=options.max_tasks, max_age=options.max_age)
        workers = WorkerRegistry()
        workers.restore(store.load_workers())
        metrics = Metrics(str(app.conf.task_default_queue or "celery"))
        hub = Hub()
        ingestor = Ingestor(store, workers, metrics, hub)
        queues = QueueMonitor(app, store, workers, metrics, options.queue_interval or 5.0)
        desk = DeadLetterDesk(app)
        return cls(app, options, store, workers, metrics, hub, ingestor, queues, desk)
