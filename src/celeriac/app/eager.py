"""Eager execution (``Task.apply``, ``task_always_eager``) through the worker's trace step.

The call becomes the same :class:`TaskMessage` a worker would receive (built by the send
path, not encoded, not routed) and the same request (``context_from_message``); its
follow-ups (callbacks, errbacks) go through :mod:`celeriac.canvas.workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from celeriac import states
from celeriac.app import publish
from celeriac.app.trace import call_sync
from celeriac.canvas import workflow
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context, context_from_message
from celeriac.results.result import EagerResult

if TYPE_CHECKING:
    from celeriac.app.task import Task

__all__ = ["apply_eagerly"]


def apply_eagerly(
    task: Task[..., object],
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    options: Mapping[str, object],
    *,
    throw: bool | None,
) -> EagerResult[object]:
    """Run a task now in this thread, retrying at once on Retry; return an EagerResult.

    ``options`` are ``apply_async``'s (``task_id``, ``link``, ``link_error``,
    ``retries`` …). Exceptions propagate when ``throw`` (default:
    ``task_eager_propagates``).
    """
    app = task.app
    if throw is None:
        throw = bool(app.conf.task_eager_propagates)
    message, _, _ = publish.build_message(
        app, task.name, args, kwargs, options, task, now=app.now(), eager=True
    )
    if message.root_id is None:  # a call with no parent is its own root, as on the wire
        message = replace(message, root_id=message.id)
    while True:
        request = context_from_message(message, is_eager=True)
        outcome = call_sync(task, request)
        if outcome.kind is OutcomeKind.RETRY and outcome.retry is not None:
            message, _, _ = publish.retry_message(app, message, outcome.retry, task, "")
            continue
        break
    if _stores_eager_result(task):
        _store(task, message.id, request, outcome)
    if outcome.kind is OutcomeKind.SUCCESS:
        workflow.apply_callbacks(app, request, outcome.retval)
        return EagerResult(message.id, outcome.retval, states.SUCCESS, name=task.name)
    if outcome.exc is not None and outcome.kind is OutcomeKind.FAILURE:
        workflow.apply_errbacks(app, request, outcome.exc, outcome.traceback)
        if throw:
            raise outcome.exc
        return EagerResult(
            message.id, outcome.exc, states.FAILURE, traceback=outcome.traceback, name=task.name
        )
    return EagerResult(message.id, outcome.exc, outcome.state, name=task.name)


def _stores_eager_result(task: Task[..., object]) -> bool:
    """Celery's ``store_eager_result`` (the task's, else ``task_store_eager_result``),
    unless the task ignores its results."""
    store = task.store_eager_result
    if store is None:
        store = bool(task.app.conf.task_store_eager_result)
    return store and not task.resolve_ignore_result()


def _store(task: Task[..., object], task_id: str, request: Context, outcome: Outcome) -> None:
    """Store an eager run's final state in the backend, as a worker would."""
    if outcome.kind is OutcomeKind.SUCCESS:
        task.backend.mark_as_done(task_id, outcome.retval, request=request)
    elif outcome.exc is not None:
        task.backend.store_result(
            task_id, outcome.exc, outcome.state, traceback=outcome.traceback, request=request
        )
