"""Context variables for the current app and the current task: the only mutable globals."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task

__all__ = [
    "get_current_app",
    "get_current_task",
    "get_current_request",
    "get_executing_request",
    "push_request",
    "pop_request",
    "push_task",
    "pop_task",
    "set_current_app",
    "registered_apps",
    "shared_task_factories",
]

_current_app: ContextVar[Celery | None] = ContextVar("celeriac_current_app", default=None)
_current_task: ContextVar[Task[Any, Any] | None] = ContextVar("celeriac_current_task", default=None)
_default_app: list[Celery] = []
#: Every app created in this process (shared_task registers its task with each).
registered_apps: list[Celery] = []
#: Decorated functions waiting for apps: shared_task keeps (function, options) here.
shared_task_factories: list[tuple[Any, dict[str, Any]]] = []


def set_current_app(app: Celery) -> None:
    """Make ``app`` the current app of this context (and the default one)."""
    _current_app.set(app)
    if not _default_app:
        _default_app.append(app)
    else:
        _default_app[0] = app


def get_current_app() -> Celery:
    """Return the current app, creating a default one when none exists."""
    app = _current_app.get()
    if app is not None:
        return app
    if _default_app:
        return _default_app[0]
    from celeriac.app.base import Celery

    return Celery("default", set_as_current=True)


def get_current_task() -> Task[Any, Any] | None:
    """Return the task being executed in this context, if any."""
    return _current_task.get()


def push_task(task: Task[Any, Any] | None) -> Any:
    """Mark ``task`` as running in this context; returns a token for :func:`pop_task`."""
    return _current_task.set(task)


def pop_task(token: Any) -> None:
    """Undo :func:`push_task`."""
    _current_task.reset(token)


_current_request: ContextVar[Any] = ContextVar("celeriac_current_request", default=None)
#: The innermost request that is a real execution (worker or ``apply()``), not a direct call.
_executing_request: ContextVar[Any] = ContextVar("celeriac_executing_request", default=None)


def get_current_request() -> Any:
    """Return the request (``Context``) of the task running in this context, if any."""
    return _current_request.get()


def get_executing_request() -> Any:
    """Return the innermost request not made by calling a task directly (Celery's
    ``current_worker_task.request``): the parent of tasks sent from here."""
    return _executing_request.get()


def push_request(request: Any) -> Any:
    """Make ``request`` current; returns a token for :func:`pop_request`."""
    executing = None
    if not getattr(request, "called_directly", True):
        executing = _executing_request.set(request)
    return _current_request.set(request), executing


def pop_request(token: Any) -> None:
    """Undo :func:`push_request`."""
    current, executing = token
    _current_request.reset(current)
    if executing is not None:
        _executing_request.reset(executing)
