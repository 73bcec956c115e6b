"""Context variables: the current app, the running task and its request (the only mutable globals).

This module sits below ``app`` and does not import it: the app class registers itself
as the factory of the default app (:func:`set_default_app_factory`, called once when
``celeriac.app.base`` is imported), so ``current_app`` can create one on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

from celeriac.execution.applike import AppLike, TaskLike
from celeriac.execution.request import Context

__all__ = [
    "RequestToken",
    "get_current_app",
    "get_current_request",
    "get_current_task",
    "get_executing_request",
    "pop_request",
    "pop_task",
    "push_request",
    "push_task",
    "set_current_app",
    "set_default_app_factory",
]

_current_app: ContextVar[AppLike | None] = ContextVar("celeriac_current_app", default=None)
_current_task: ContextVar[TaskLike | None] = ContextVar("celeriac_current_task", default=None)
_current_request: ContextVar[Context | None] = ContextVar("celeriac_current_request", default=None)
#: The innermost request that is a real execution (worker or ``apply()``), not a direct call.
_executing_request: ContextVar[Context | None] = ContextVar(
    "celeriac_executing_request", default=None
)
_default_app: list[AppLike] = []
_app_factory: list[Callable[[], AppLike]] = []

#: What :func:`push_request` returns and :func:`pop_request` takes.
RequestToken = tuple[Token[Context | None], Token[Context | None] | None]


def set_default_app_factory(factory: Callable[[], AppLike]) -> None:
    """Register how to create the default app when none exists (``Celery`` does, once)."""
    _app_factory[:] = [factory]


def set_current_app(app: AppLike) -> None:
    """Make ``app`` the current app of this context (and the default one)."""
    _current_app.set(app)
    if not _default_app:
        _default_app.append(app)
    else:
        _default_app[0] = app


def get_current_app() -> AppLike:
    """Return the current app, creating a default one when none exists."""
    app = _current_app.get()
    if app is not None:
        return app
    if _default_app:
        return _default_app[0]
    if not _app_factory:
        raise RuntimeError("no celeriac app exists yet (import celeriac and create a Celery app)")
    return _app_factory[0]()


def get_current_task() -> TaskLike | None:
    """Return the task being executed in this context, if any."""
    return _current_task.get()


def push_task(task: TaskLike | None) -> Token[TaskLike | None]:
    """Mark ``task`` as running in this context; returns a token for :func:`pop_task`."""
    return _current_task.set(task)


def pop_task(token: Token[TaskLike | None]) -> None:
    """Undo :func:`push_task`."""
    _current_task.reset(token)


def get_current_request() -> Context | None:
    """Return the request (``Context``) of the task running in this context, if any."""
    return _current_request.get()


def get_executing_request() -> Context | None:
    """Return the innermost request not made by calling a task directly (Celery's
    ``current_worker_task.request``): the parent of tasks sent from here."""
    return _executing_request.get()


def push_request(request: Context) -> RequestToken:
    """Make ``request`` current; returns a token for :func:`pop_request`."""
    executing = None
    if not request.called_directly:
        executing = _executing_request.set(request)
    return _current_request.set(request), executing


def pop_request(token: RequestToken) -> None:
    """Undo :func:`push_request`."""
    current, executing = token
    _current_request.reset(current)
    if executing is not None:
        _executing_request.reset(executing)
