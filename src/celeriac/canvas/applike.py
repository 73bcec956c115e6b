"""CanvasApp and CanvasTask: what signatures need of an app and a task to send themselves.

They extend :mod:`celeriac.execution.applike` with the calling API, whose results are
``celeriac.results`` handles; :class:`celeriac.Celery` and :class:`celeriac.Task`
satisfy them, and ``canvas`` never imports ``app``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from celeriac.execution import context
from celeriac.execution.applike import AppLike, TaskLike
from celeriac.results.result import AsyncResult, EagerResult

__all__ = ["CanvasApp", "CanvasTask", "TaskCall", "current_app"]

#: A task call for :meth:`CanvasApp.send_many`: (name, args, kwargs, apply_async options).
TaskCall = tuple[str, Sequence[object], Mapping[str, object], Mapping[str, object]]


class CanvasTask(TaskLike, Protocol):
    """A registered task with Celery's calling API."""

    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: dict[str, object] | None = None,
        **options: Any,
    ) -> AsyncResult[object]:
        """Send the task."""
        ...

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: dict[str, object] | None = None,
        **options: Any,
    ) -> EagerResult[object]:
        """Run the task here, now."""
        ...

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        """Call the task's body in this process."""
        ...


class CanvasApp(AppLike, Protocol):
    """An app that sends task calls."""

    #: the queue this process's results come back to (``rpc://``; Celery's ``oid``)
    reply_to: str

    @property
    def tasks(self) -> Mapping[str, CanvasTask]:
        """The registered tasks by name."""
        ...

    def send_task(
        self,
        name: str,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: Any,
    ) -> AsyncResult[object]:
        """Send a task by name."""
        ...

    def send_many(self, calls: Sequence[TaskCall]) -> list[AsyncResult[object]]:
        """Send plain task calls (a group's members), batched where the transport can."""
        ...


def current_app() -> CanvasApp:
    """The current app (created on first use)."""
    # The app class registers itself as the default app's factory: it is a CanvasApp.
    return cast(CanvasApp, context.get_current_app())
