"""The Middleware base class: every hook is a no-op until a subclass overrides it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.execution.applike import TaskLike
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Context
    from celeriac.protocol.message import Message

__all__ = ["Middleware"]


class Middleware:
    """Override any hook; the defaults do nothing.

    ``before_*`` hooks and :meth:`on_worker_start` run in stack order; ``after_*``
    hooks and :meth:`on_worker_stop` in reverse order. An exception from a hook is
    logged with the middleware's name and does not stop the others, except in
    ``before_call``/``before_publish`` where it fails the call.
    """

    # caller side: sync, in the process that calls .delay()
    def before_publish(self, message: Message, queue: str) -> None:
        """Called before a task message is handed to the transport."""

    def after_publish(self, message: Message, queue: str) -> None:
        """Called after a task message was handed to the transport."""

    # worker side
    def on_worker_start(self, worker: Any) -> None:
        """Called once when a worker (or a prefork child) is ready to consume."""

    def on_worker_stop(self, worker: Any) -> None:
        """Called once when a worker (or a prefork child) stops."""

    def on_receive(self, task: TaskLike, request: Context) -> None:
        """Called when the worker takes a task message (before any wait or rate limit)."""

    # where the task body runs (pool thread, child process or the loop)
    def before_call(self, task: TaskLike, request: Context) -> None:
        """Called right before the task body."""

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        """Called right after the task body, with its outcome."""

    def on_revoked(self, task: TaskLike, request: Context, reason: str) -> None:
        """Called when a task is not run because it was revoked or expired."""

    # worker side: messages that never reach a task body, and the worker's own errors
    def on_rejected(self, message: Message | None, reason: str, exc: BaseException | None) -> None:
        """Called when a message is dead-lettered unrun: undecodable, not accepted, invalid.

        ``message`` is None when the stored bytes are not a message at all.
        """

    def on_unknown_task(
        self, name: str, task_id: str, message: Message, exc: BaseException
    ) -> None:
        """Called when a message names a task this worker does not have."""

    def on_internal_error(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Called when the worker itself failed around a task (not the task body)."""

    def on_aborted(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Called when a task failed without its body returning: a time limit ended it
        (``TimeLimitExceeded``, or ``SoftTimeLimitExceeded`` for a cancelled ``async
        def``), or its process died (``WorkerLostError``) and it is not run again.

        For a child process that died, the prefork supervisor calls it, and ``request``
        then carries the id, name and hostname only (the arguments stayed in the child).
        """
