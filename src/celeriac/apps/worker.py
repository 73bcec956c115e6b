"""``app.Worker``: a worker node built from Celery's keyword arguments.

``app.Worker(hostname="w1@%h", pool="threads", concurrency=4, loglevel="INFO").start()``
runs a worker in this process as ``celeriac worker`` would (Celery's
``celery.apps.worker.Worker``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from celeriac.worker.worker import Worker as NodeWorker
from celeriac.worker.worker import WorkerOptions

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Worker", "bound_worker"]

#: Celery's keyword names that differ from celeriac's options.
_RENAMED = {"pool_cls": "pool", "task_events": "send_events", "exclude_queues": "exclude_queues"}
_POOL_NAMES = {"processes": "prefork", "thread": "threads", "threads": "threads", "solo": "solo"}


def _pool(value: Any) -> str:
    if isinstance(value, type):
        value = value.__name__
    name = str(value or "prefork").rsplit(".", 1)[-1].rsplit(":", 1)[-1].lower()
    return _POOL_NAMES.get(name, "prefork" if name in ("prefork", "taskpool") else name)


def options_from_kwargs(app: Celery, kwargs: dict[str, Any]) -> WorkerOptions:
    """Celery's ``Worker(**kwargs)`` as celeriac's :class:`WorkerOptions` (unknown keys ignored)."""
    known = {f.name for f in fields(WorkerOptions)}
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        key = _RENAMED.get(key, key)
        if key in known and value is not None:
            values[key] = value
    for key in ("queues", "exclude_queues"):
        if isinstance(values.get(key), str):
            values[key] = [q.strip() for q in values[key].split(",") if q.strip()]
    values["pool"] = _pool(values.get("pool") or app.conf.worker_pool)
    if "loglevel" in values:
        level = values["loglevel"]
        values["loglevel"] = level.upper() if isinstance(level, str) else str(level)
    return WorkerOptions(**values)


class Worker(NodeWorker):
    """A worker node made from Celery's keyword arguments."""

    def __init__(self, app: Celery, **kwargs: Any) -> None:
        super().__init__(app, options_from_kwargs(app, kwargs))


def bound_worker(app: Celery) -> type[Worker]:
    """``Worker`` with ``app`` filled in (what ``app.Worker`` returns)."""

    class BoundWorker(Worker):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.pop("app", None)
            super().__init__(app, **kwargs)

    BoundWorker.__name__ = BoundWorker.__qualname__ = "Worker"
    return BoundWorker
