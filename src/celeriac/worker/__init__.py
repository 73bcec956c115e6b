"""The worker; Celery's ``celery.worker.WorkController`` is :class:`~.worker.Worker`."""

from __future__ import annotations

from typing import Any

__all__ = ["WorkController"]


def __getattr__(name: str) -> Any:
    # Lazy: importing a submodule (``celeriac.worker.control``) does not load the worker.
    if name == "WorkController":
        from celeriac.worker.worker import Worker

        return Worker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
