"""Eager execution (``Task.apply``, ``task_always_eager``) through the worker's trace step."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app import context
from celeriac.app.request import Context
from celeriac.app.trace import call_sync

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.results.result import EagerResult

__all__ = ["apply_eagerly"]


def _apply_callbacks(task: Task[Any, Any], signatures: Any, value: Any, *, errback: bool) -> None:
    from celeriac.canvas.signature import Signature

    for item in signatures or ():
        sig = Signature.from_dict(item, app=task.app)
        if errback:
            sig.apply((value,) if not sig.immutable else ())
        else:
            sig.apply((value,))


def apply_eagerly(
    task: Task[Any, Any],
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    task_id: str | None,
    link: Any,
    link_error: Any,
    throw: bool | None,
    retries: int,
    options: dict[str, Any],
) -> EagerResult[Any]:
    """Run a task now in this thread, retrying at once on Retry; return an EagerResult."""
    from celeriac.app.base import _signature_dicts
    from celeriac.results.result import EagerResult

    task_id = task_id or str(uuid.uuid4())
    parent = context.get_executing_request()
    if throw is None:
        throw = bool(task.app.conf.task_eager_propagates)
    while True:
        request = Context(
            id=task_id,
            task=task.name,
            args=args,
            kwargs=kwargs,
            retries=retries,
            is_eager=True,
            called_directly=False,
            root_id=(parent.root_id or parent.id) if parent is not None and parent.id else task_id,
            parent_id=parent.id if parent is not None else None,
            group=options.get("group_id"),
            group_index=options.get("group_index"),
            callbacks=_signature_dicts(link),
            errbacks=_signature_dicts(link_error),
            delivery_info={
                "is_eager": True,
                "exchange": options.get("exchange"),
                "routing_key": options.get("routing_key"),
                "priority": options.get("priority"),
            },
            headers=dict(options.get("headers") or {}),
            # seen by the task, not enforced: eager calls run to the end, as in Celery
            timelimit=(
                options.get("time_limit", task.time_limit),
                options.get("soft_time_limit", task.soft_time_limit),
            ),
        )
        outcome = call_sync(task, request)
        if outcome.state == states.RETRY and outcome.retry is not None:
            sig = outcome.retry.sig or {}
            args = list(sig.get("args", args))
            kwargs = dict(sig.get("kwargs", kwargs))
            retries += 1
            continue
        break
    if outcome.state == states.SUCCESS:
        _apply_callbacks(task, request.callbacks, outcome.retval, errback=False)
        return EagerResult(task_id, outcome.retval, states.SUCCESS, name=task.name)
    if outcome.exc is not None and outcome.state == states.FAILURE:
        _apply_callbacks(task, request.errbacks, task_id, errback=True)
        if throw:
            raise outcome.exc
        return EagerResult(
            task_id, outcome.exc, states.FAILURE, traceback=outcome.traceback, name=task.name
        )
    return EagerResult(task_id, outcome.exc, outcome.state, name=task.name)
