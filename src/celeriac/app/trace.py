"""One task execution, shared by the worker and eager mode: call the body, classify the outcome."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback as tb
from collections.abc import Callable
from typing import Any

from celeriac.app.task import Task
from celeriac.exceptions import Ignore, Reject, Retry
from celeriac.execution import context
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context

__all__ = [
    "LOG_FAILURE",
    "LOG_IGNORED",
    "LOG_INTERNAL_ERROR",
    "LOG_RECEIVED",
    "LOG_REJECTED",
    "LOG_RETRY",
    "LOG_SUCCESS",
    "call_async",
    "call_sync",
    "log_task",
]

#: Celery's formats of the worker's task log lines (``celery.app.trace.LOG_*``). A record
#: made with one has the context dict as its argument and as ``record.data``.
LOG_RECEIVED = "Task %(name)s[%(id)s] received"
LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
LOG_FAILURE = "Task %(name)s[%(id)s] %(description)s: %(exc)s"
LOG_INTERNAL_ERROR = "Task %(name)s[%(id)s] %(description)s: %(exc)s"
LOG_IGNORED = "Task %(name)s[%(id)s] %(description)s"
LOG_REJECTED = "Task %(name)s[%(id)s] %(exc)s"
LOG_RETRY = "Task %(name)s[%(id)s] retry: %(exc)s"


def log_task(
    logger: logging.Logger, level: int, fmt: str, context: Callable[[], dict[str, Any]]
) -> None:
    """Log one of the ``LOG_*`` lines as Celery does: the context (built only when the
    level is on) is the format's argument and the record's ``data`` (structured logs)."""
    if logger.isEnabledFor(level):
        data = context()
        logger.log(level, fmt, data, extra={"data": data})


def _autoretry(task: Task[..., object], request: Context, exc: Exception) -> Outcome | None:
    """Turn an exception listed in ``autoretry_for`` into a retry (or the final failure)."""
    if not task.autoretry_for or not isinstance(exc, task.autoretry_for):
        return None
    if task.dont_autoretry_for and isinstance(exc, task.dont_autoretry_for):
        return None
    options = dict(task.retry_kwargs)
    countdown = options.pop("countdown", None)
    if countdown is None and task.retry_backoff:
        countdown = task.retry_delay_for(request.retries)
    try:
        signal = task.retry(exc=exc, countdown=countdown, throw=False, **options)
    except BaseException as final:  # retries exhausted: `exc` (or MaxRetries) is final
        return _failure(final)
    return Outcome(OutcomeKind.RETRY, exc=exc, traceback=tb.format_exc(), retry=signal)


def _failure(exc: BaseException) -> Outcome:
    text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return Outcome(OutcomeKind.FAILURE, exc=exc, traceback=text)


def _classify(task: Task[..., object], request: Context, exc: BaseException) -> Outcome:
    if isinstance(exc, Retry):
        return Outcome(OutcomeKind.RETRY, exc=exc.exc or exc, traceback=tb.format_exc(), retry=exc)
    if isinstance(exc, Ignore):
        return Outcome(OutcomeKind.IGNORED, exc=exc)
    if isinstance(exc, Reject):
        return Outcome(OutcomeKind.REJECTED, exc=exc)
    if isinstance(exc, Exception):
        retried = _autoretry(task, request, exc)
        if retried is not None:
            return retried
    return _failure(exc)


def _run_hooks(task: Task[..., object], request: Context, outcome: Outcome) -> None:
    task_id = request.id or ""
    try:
        kind = outcome.kind
        if kind is OutcomeKind.SUCCESS:
            task.on_success(outcome.retval, task_id, request.args, request.kwargs)
        elif kind is OutcomeKind.RETRY and outcome.exc is not None:
            task.on_retry(outcome.exc, task_id, request.args, request.kwargs, outcome.traceback)
        elif kind is OutcomeKind.FAILURE and outcome.exc is not None:
            task.on_failure(outcome.exc, task_id, request.args, request.kwargs, outcome.traceback)
        value = outcome.retval if kind is OutcomeKind.SUCCESS else outcome.exc
        task.after_return(
            outcome.state, value, task_id, request.args, request.kwargs, outcome.traceback
        )
    except Exception as exc:  # a failing hook turns the task into a failure, as in Celery
        failed = _failure(exc)
        outcome.kind, outcome.exc, outcome.traceback = failed.kind, failed.exc, failed.traceback


def _body(task: Task[..., object]) -> Callable[..., object]:
    """What to call: ``run``, or the task itself when its class overrides ``__call__``
    (Celery runs a custom ``__call__``, e.g. to enter an app context around every task)."""
    return task if type(task).__call__ is not Task.__call__ else task.run


def call_sync(task: Task[..., object], request: Context) -> Outcome:
    """Run a sync task's body with ``request`` as its context; never raises for task errors."""
    task_token = context.push_task(task)
    request_token = context.push_request(request)
    started = time.perf_counter()
    try:
        task.app.middleware.before_call(task, request)
        task.before_start(request.id or "", request.args, request.kwargs)
        outcome = Outcome(OutcomeKind.SUCCESS, retval=_body(task)(*request.args, **request.kwargs))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            context.pop_request(request_token)
            context.pop_task(task_token)
            raise
        outcome = _classify(task, request, exc)
    outcome.runtime = time.perf_counter() - started
    try:
        _run_hooks(task, request, outcome)
        task.app.middleware.after_call(task, request, outcome)
    finally:
        context.pop_request(request_token)
        context.pop_task(task_token)
    return outcome


async def call_async(task: Task[..., object], request: Context) -> Outcome:
    """Run an ``async def`` task's body on the running loop; never raises for task errors."""
    task_token = context.push_task(task)
    request_token = context.push_request(request)
    started = time.perf_counter()
    try:
        task.app.middleware.before_call(task, request)
        task.before_start(request.id or "", request.args, request.kwargs)
        pending = _body(task)(*request.args, **request.kwargs)
        if not inspect.isawaitable(pending):
            raise TypeError(f"async task {task.name} returned {pending!r}, not an awaitable")
        outcome = Outcome(OutcomeKind.SUCCESS, retval=await pending)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError):
            context.pop_request(request_token)
            context.pop_task(task_token)
            raise
        outcome = _classify(task, request, exc)
    outcome.runtime = time.perf_counter() - started
    try:
        _run_hooks(task, request, outcome)
        task.app.middleware.after_call(task, request, outcome)
    finally:
        context.pop_request(request_token)
        context.pop_task(task_token)
    return outcome
