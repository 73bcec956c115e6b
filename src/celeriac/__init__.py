"""celeriac: a distributed task queue with Celery's API and wire format, built on asyncio."""

from __future__ import annotations

import uuid as _uuid
from typing import Any, NamedTuple, cast

from celeriac import local as local
from celeriac.app.base import Celery
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
from celeriac.config.entities import Exchange, Queue, binding
from celeriac.execution.context import get_current_app, get_current_task
from celeriac.results.result import AsyncResult, EagerResult, GroupResult, ResultSet
from celeriac.utils.proxy import Proxy

__version__ = "0.1.0"
VERSION = (0, 1, 0)
#: The release series name (Celery names its series; celeriac's is its own name).
SERIES = "celeriac"
#: ``"<version> (<series>)"``, as Celery's banner shows it.
VERSION_BANNER = f"{__version__} ({SERIES})"


class version_info_t(NamedTuple):
    """The version as Celery's ``version_info``: ``(major, minor, micro, releaselevel, serial)``."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


version_info = version_info_t(*VERSION, "", "")

__all__ = [
    "SERIES",
    "VERSION",
    "VERSION_BANNER",
    "AsyncResult",
    "Celery",
    "EagerResult",
    "Exchange",
    "GroupResult",
    "Queue",
    "ResultSet",
    "Signature",
    "Task",
    "__version__",
    "binding",
    "bugreport",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "local",
    "maybe_signature",
    "shared_task",
    "signature",
    "subtask",
    "uuid",
    "version_info",
    "version_info_t",
    "xmap",
    "xstarmap",
]

subtask = signature


def bugreport(app: Any = None) -> str:
    """The bug-report text of ``app`` (the current app by default): versions, platform,
    broker and result URLs, changed settings (``celeriac report``)."""
    return str((app if app is not None else current_app).bugreport())


def uuid() -> str:
    """A new task id (a UUID4 string)."""
    return str(_uuid.uuid4())


#: The current app, resolved at each use (Celery's ``current_app`` proxy).
current_app: Celery = cast(Celery, Proxy(get_current_app))
#: The task running in this context, or a proxy to ``None`` outside tasks.
current_task: Task[Any, Any] = cast("Task[Any, Any]", Proxy(get_current_task))
