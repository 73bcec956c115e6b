"""MiddlewareStack: calls each hook on the middleware that override it, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.middleware.base import Middleware
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.execution.applike import TaskLike
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Context
    from celeriac.protocol.message import Message

__all__ = ["MiddlewareStack"]

logger = own_logger(__name__)

_HOOKS = (
    "before_publish",
    "after_publish",
    "on_worker_start",
    "on_worker_stop",
    "on_receive",
    "before_call",
    "after_call",
    "on_revoked",
    "on_rejected",
    "on_unknown_task",
    "on_internal_error",
    "on_aborted",
)


class MiddlewareStack:
    """An ordered list of middleware with precomputed per-hook lists (unused hooks cost nothing)."""

    def __init__(self, middleware: list[Middleware] | None = None) -> None:
        self._items: list[Middleware] = list(middleware or [])
        self._by_hook: dict[str, list[Middleware]] = {}
        self._index()

    def _index(self) -> None:
        self._by_hook = {
            hook: [
                m for m in self._items if getattr(type(m), hook) is not getattr(Middleware, hook)
            ]
            for hook in _HOOKS
        }

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(
        self,
        middleware: Middleware,
        *,
        before: type[Middleware] | None = None,
        after: type[Middleware] | None = None,
    ) -> None:
        """Add a middleware at the end, or before/after the first one of a given class."""
        position = len(self._items)
        for index, existing in enumerate(self._items):
            if before is not None and isinstance(existing, before):
                position = index
                break
            if after is not None and isinstance(existing, after):
                position = index + 1
        self._items.insert(position, middleware)
        self._index()

    def remove(self, cls: type[Middleware]) -> None:
        """Remove every middleware of a class."""
        self._items = [m for m in self._items if not isinstance(m, cls)]
        self._index()

    @staticmethod
    def _contained(middleware: Middleware, hook: str, exc: Exception) -> None:
        logger.error("Middleware %s.%s raised %r (ignored)", type(middleware).__name__, hook, exc)

    def before_publish(self, message: Message, queue: str) -> None:
        """Run ``before_publish`` hooks in order (errors propagate: the publish fails)."""
        for middleware in self._by_hook["before_publish"]:
            middleware.before_publish(message, queue)

    def after_publish(self, message: Message, queue: str) -> None:
        """Run ``after_publish`` hooks in reverse order."""
        for middleware in reversed(self._by_hook["after_publish"]):
            try:
                middleware.after_publish(message, queue)
            except Exception as exc:
                self._contained(middleware, "after_publish", exc)

    def on_worker_start(self, worker: Any) -> None:
        """Run ``on_worker_start`` hooks in order."""
        for middleware in self._by_hook["on_worker_start"]:
            try:
                middleware.on_worker_start(worker)
            except Exception as exc:
                self._contained(middleware, "on_worker_start", exc)

    def on_worker_stop(self, worker: Any) -> None:
        """Run ``on_worker_stop`` hooks in reverse order."""
        for middleware in reversed(self._by_hook["on_worker_stop"]):
            try:
                middleware.on_worker_stop(worker)
            except Exception as exc:
                self._contained(middleware, "on_worker_stop", exc)

    def on_receive(self, task: TaskLike, request: Context) -> None:
        """Run ``on_receive`` hooks in order."""
        for middleware in self._by_hook["on_receive"]:
            try:
                middleware.on_receive(task, request)
            except Exception as exc:
                self._contained(middleware, "on_receive", exc)

    def before_call(self, task: TaskLike, request: Context) -> None:
        """Run ``before_call`` hooks in order (errors fail the task)."""
        for middleware in self._by_hook["before_call"]:
            middleware.before_call(task, request)

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        """Run ``after_call`` hooks in reverse order."""
        for middleware in reversed(self._by_hook["after_call"]):
            try:
                middleware.after_call(task, request, outcome)
            except Exception as exc:
                self._contained(middleware, "after_call", exc)

    def on_revoked(self, task: TaskLike, request: Context, reason: str) -> None:
        """Run ``on_revoked`` hooks in order."""
        for middleware in self._by_hook["on_revoked"]:
            try:
                middleware.on_revoked(task, request, reason)
            except Exception as exc:
                self._contained(middleware, "on_revoked", exc)

    def on_rejected(self, message: Message | None, reason: str, exc: BaseException | None) -> None:
        """Run ``on_rejected`` hooks in order."""
        for middleware in self._by_hook["on_rejected"]:
            try:
                middleware.on_rejected(message, reason, exc)
            except Exception as error:
                self._contained(middleware, "on_rejected", error)

    def on_unknown_task(
        self, name: str, task_id: str, message: Message, exc: BaseException
    ) -> None:
        """Run ``on_unknown_task`` hooks in order."""
        for middleware in self._by_hook["on_unknown_task"]:
            try:
                middleware.on_unknown_task(name, task_id, message, exc)
            except Exception as error:
                self._contained(middleware, "on_unknown_task", error)

    def on_internal_error(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Run ``on_internal_error`` hooks in order."""
        for middleware in self._by_hook["on_internal_error"]:
            try:
                middleware.on_internal_error(task, request, exc, traceback)
            except Exception as error:
                self._contained(middleware, "on_internal_error", error)

    def on_aborted(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Run ``on_aborted`` hooks in order."""
        for middleware in self._by_hook["on_aborted"]:
            try:
                middleware.on_aborted(task, request, exc, traceback)
            except Exception as error:
                self._contained(middleware, "on_aborted", error)
