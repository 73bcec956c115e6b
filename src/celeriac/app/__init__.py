"""The application layer: the Celery class, tasks, routing and eager mode and the send path.

Celeriac's ``celeriac.app`` exports Celery's ``celery.app`` names.
"""

from __future__ import annotations

import threading
from contextvars import Token
from typing import Any

from celeriac.app.base import Celery
from celeriac.app.shared import shared_task
from celeriac.execution import context
from celeriac.execution.context import get_current_app

__all__ = [
    "Celery",
    "app_or_default",
    "bugreport",
    "default_app",
    "pop_current_task",
    "push_current_task",
    "shared_task",
]

_pushed = threading.local()


def app_or_default(app: Any = None) -> Any:
    """``app``, or the current (default) app when it is ``None``."""
    return app if app is not None else get_current_app()


def bugreport(app: Any = None) -> str:
    """The bug-report text of ``app`` (default: the current app), as ``app.bugreport()``."""
    return str(app_or_default(app).bugreport())


def push_current_task(task: Any) -> None:
    """Make ``task`` the current task (``current_task``) until :func:`pop_current_task`."""
    stack: list[tuple[Any, Token[Any]]] = _pushed.__dict__.setdefault("stack", [])
    stack.append((task, context.push_task(task)))


def pop_current_task() -> Any:
    """Undo the last :func:`push_current_task` of this thread; return its task (None when
    nothing was pushed)."""
    stack: list[tuple[Any, Token[Any]]] = _pushed.__dict__.setdefault("stack", [])
    if not stack:
        return None
    task, token = stack.pop()
    context.pop_task(token)
    return task


def __getattr__(name: str) -> Any:
    # ``default_app``: Celery's module attribute, the app used when none is given.
    if name == "default_app":
        return get_current_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
