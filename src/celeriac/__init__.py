"""celeriac: a distributed task queue with Celery's API and wire format, built on asyncio."""

from __future__ import annotations

from typing import Any, cast

from celeriac.app.base import Celery
from celeriac.app.context import get_current_app, get_current_task
from celeriac.app.shared import shared_task
from celeriac.app.task import Task
from celeriac.canvas import (
    Signature,
    chain,
    chord,
    chunks,
    group,
    maybe_signature,
    signature,
    xmap,
    xstarmap,
)
from celeriac.results.result import AsyncResult, EagerResult, GroupResult, ResultSet
from celeriac.utils.proxy import Proxy

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
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "subtask",
    "uuid",
    "xmap",
    "xstarmap",
]

subtask = signature


def uuid() -> str:
    """A new task id (a UUID4 string)."""
    import uuid as _uuid

    return str(_uuid.uuid4())


#: The current app, resolved at each use (Celery's ``current_app`` proxy).
current_app: Celery = cast(Celery, Proxy(get_current_app))
#: The task running in this context, or a proxy to ``None`` outside tasks.
current_task: Task[Any, Any] = cast("Task[Any, Any]", Proxy(get_current_task))
