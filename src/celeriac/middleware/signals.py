"""Signals middleware: sends Celery's signals from the typed hooks (the façade's only feed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac.middleware.base import Middleware

if TYPE_CHECKING:
    from celeriac.execution.applike import TaskLike
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Context
    from celeriac.protocol.message import Message

__all__ = ["Signals"]


def _decoded(message: Message) -> Any:
    """The message body as Celery's signal gives it: ``(args, kwargs, embed)`` decoded
    (the bytes when they cannot be decoded here, e.g. a signed body)."""
    from celeriac.protocol.compression import decompress
    from celeriac.protocol.serializers import loads

    body = message.body
    try:
        method = message.headers.get("compression")
        if method:
            body = decompress(body, method, None)
        return loads(body, message.content_type, message.content_encoding)
    except Exception:
        return message.body


class Signals(Middleware):
    """Feeds ``celeriac.signals`` (Celery's names and arguments) from middleware hooks."""

    def before_publish(self, message: Message, queue: str) -> None:
        """Send ``before_task_publish``."""
        if signals.before_task_publish.receivers:
            signals.before_task_publish.send(
                sender=message.headers.get("task"),
                body=_decoded(message),
                exchange="",
                routing_key=queue,
                headers=message.headers,
                properties=message.properties,
                declare=[],
                retry_policy=None,
            )

    def after_publish(self, message: Message, queue: str) -> None:
        """Send ``after_task_publish``."""
        if signals.after_task_publish.receivers:
            signals.after_task_publish.send(
                sender=message.headers.get("task"),
                body=message.body,
                exchange="",
                routing_key=queue,
                headers=message.headers,
            )

    def on_worker_start(self, worker: Any) -> None:
        """Send ``worker_process_init`` (in each process that runs tasks)."""
        signals.worker_process_init.send(sender=None)

    def on_worker_stop(self, worker: Any) -> None:
        """Send ``worker_process_shutdown``."""
        signals.worker_process_shutdown.send(sender=None, pid=None, exitcode=0)

    def on_receive(self, task: TaskLike, request: Context) -> None:
        """Send ``task_received``."""
        if signals.task_received.receivers:
            signals.task_received.send(sender=None, request=request)

    def before_call(self, task: TaskLike, request: Context) -> None:
        """Send ``task_prerun``."""
        if signals.task_prerun.receivers:
            signals.task_prerun.send(
                sender=task, task_id=request.id, task=task, args=request.args, kwargs=request.kwargs
            )

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        """Send ``task_success``/``task_failure``/``task_retry`` and ``task_postrun``."""
        if outcome.state == states.SUCCESS:
            signals.task_success.send(sender=task, result=outcome.retval)
        elif outcome.state == states.FAILURE:
            signals.task_failure.send(
                sender=task,
                task_id=request.id,
                exception=outcome.exc,
                args=request.args,
                kwargs=request.kwargs,
                traceback=outcome.traceback,
                einfo=outcome.traceback,
            )
        elif outcome.state == states.RETRY:
            signals.task_retry.send(
                sender=task, request=request, reason=outcome.exc, einfo=outcome.traceback
            )
        signals.task_postrun.send(
            sender=task,
            task_id=request.id,
            task=task,
            args=request.args,
            kwargs=request.kwargs,
            retval=outcome.retval if outcome.exc is None else outcome.exc,
            state=outcome.state,
        )

    def on_rejected(self, message: Message | None, reason: str, exc: BaseException | None) -> None:
        """Send ``task_rejected`` (Celery: unknown or invalid messages)."""
        if signals.task_rejected.receivers:
            signals.task_rejected.send(sender=None, message=message, exc=exc, reason=reason)

    def on_unknown_task(
        self, name: str, task_id: str, message: Message, exc: BaseException
    ) -> None:
        """Send ``task_unknown``."""
        if signals.task_unknown.receivers:
            signals.task_unknown.send(sender=None, message=message, exc=exc, name=name, id=task_id)

    def on_internal_error(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Send ``task_internal_error``."""
        if signals.task_internal_error.receivers:
            signals.task_internal_error.send(
                sender=task,
                task_id=request.id,
                args=request.args,
                kwargs=request.kwargs,
                request=request,
                exception=exc,
                traceback=traceback,
                einfo=traceback,
            )

    def on_aborted(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Send ``task_failure`` (no ``task_postrun``: the body never returned), as Celery
        does for a hard time limit."""
        signals.task_failure.send(
            sender=task,
            task_id=request.id,
            exception=exc,
            args=request.args,
            kwargs=request.kwargs,
            traceback=traceback,
            einfo=traceback,
        )

    def on_revoked(self, task: TaskLike, request: Context, reason: str) -> None:
        """Send ``task_revoked``."""
        signals.task_revoked.send(
            sender=task,
            request=request,
            terminated=reason == "terminated",
            signum=None,
            expired=reason == "expired",
        )
