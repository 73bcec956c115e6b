"""Celery's ``celery._state``: the current app and task (private in Celery, used by recipes).

The usual log-formatter recipe reads :func:`get_current_task`; libraries call
:func:`connect_on_app_finalize` to add tasks to every app when it is finalized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celeriac import current_app, current_task
from celeriac.app.shared import finalize_callbacks
from celeriac.execution.context import get_current_app, get_current_task, get_executing_request
from celeriac.execution.context import set_current_app as _set_current_app

__all__ = [
    "connect_on_app_finalize",
    "current_app",
    "current_task",
    "default_app",
    "get_current_app",
    "get_current_task",
    "get_current_worker_task",
    "set_default_app",
]

#: Celery's module-level default app slot (celeriac keeps it in a context variable).
default_app: Any = None


def get_current_worker_task() -> Any:
    """The task the worker is executing in this context (not one called directly), or ``None``."""
    return get_current_task() if get_executing_request() is not None else None


def set_default_app(app: Any) -> None:
    """Make ``app`` the default (and current) app."""
    global default_app
    default_app = app
    _set_current_app(app)


def connect_on_app_finalize(callback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Call ``callback(app)`` whenever an app is finalized (and for apps finalized already)."""
    from celeriac.app.shared import registered_apps

    finalize_callbacks.append(callback)
    for app in list(registered_apps):
        if app._finalized:
            callback(app)
    return callback
