"""celeriac: a distributed task queue with Celery's API and wire format, built on asyncio."""

from __future__ import annotations

from typing import Any

from celeriac.app.base import Celery
from celeriac.app.context import get_current_app, get_current_task
from celeriac.app.shared import shared_task
from celeriac.app.task import Task
from celeriac.canvas.signature import Signature, group, maybe_signature, signature
from celeriac.results.result import AsyncResult, EagerResult, GroupResult, ResultSet

__version__ = "0.1.0"
VERSION = (0, 1, 0)

__all__ = [
    "AsyncResult",
    "Celery",
    "EagerResult",
    "GroupResult",
    "ResultSet",
    "Signature",
    "Task",
    "__version__",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "subtask",
    "uuid",
]

subtask = signature


def uuid() -> str:
    """A new task id (a UUID4 string)."""
    import uuid as _uuid

    return str(_uuid.uuid4())


def __getattr__(name: str) -> Any:
    # current_app / current_task are resolved on access, like Celery's proxies.
    if name == "current_app":
        return get_current_app()
    if name == "current_task":
        return get_current_task()
    raise AttributeError(f"module 'celeriac' has no attribute {name!r}")
