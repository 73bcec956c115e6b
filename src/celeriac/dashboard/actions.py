"""What the dashboard can do: remote-control commands to workers, revoke/terminate/re-run
a task, and send a task by name (Flower's ``async-apply``).

Everything here speaks Celery's remote control, so the same buttons drive Celery workers.
Each function is synchronous (the API runs it in a thread) and returns JSON data.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from celeriac.dashboard.records import TaskRow

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["WORKER_ACTIONS", "ActionError", "apply_task", "rerun", "revoke", "worker_action"]

#: Worker commands the dashboard offers, and the arguments each takes from the request.
WORKER_ACTIONS: Final = {
    "shutdown": (),
    "pool_grow": ("n",),
    "pool_shrink": ("n",),
    "add_consumer": ("queue",),
    "cancel_consumer": ("queue",),
    "rate_limit": ("task_name", "rate_limit"),
    "time_limit": ("task_name", "soft", "hard"),
    "heartbeat": (),
}


class ActionError(Exception):
    """An action cannot be done as asked (the message says why); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def worker_action(
    app: Celery, hostname: str, action: str, params: Mapping[str, object], timeout: float = 2.0
) -> dict[str, object]:
    """Send ``action`` to one worker and return its reply (``{}`` for ``shutdown``).

    Raises:
        ActionError: unknown action, a missing argument, or no reply within ``timeout``.
    """
    names = WORKER_ACTIONS.get(action)
    if names is None:
        raise ActionError(
            f"unknown worker action {action!r}: use one of {', '.join(WORKER_ACTIONS)}"
        )
    arguments: dict[str, object] = {}
    for name in names:
        if name in params:
            arguments[name] = params[name]
        elif name == "n":
            arguments[name] = 1
        elif name not in ("soft", "hard"):
            raise ActionError(f"{action} needs {name!r}")
    if action == "add_consumer":
        arguments.update({"exchange": None, "exchange_type": "direct", "routing_key": None})
    if isinstance(arguments.get("n"), str):
        arguments["n"] = int(str(arguments["n"]))
    wants_reply = action not in ("shutdown", "heartbeat")
    replies = app.control.broadcast(
        action,
        arguments=arguments,
        destination=[hostname],
        reply=wants_reply,
        timeout=timeout,
    )
    if not wants_reply:
        return {"ok": f"{action} sent to {hostname}"}
    for reply in replies or []:
        if hostname in reply:
            value = reply[hostname]
            return value if isinstance(value, dict) else {"ok": value}
    raise ActionError(f"no reply from {hostname} within {timeout} s", status=504)


def revoke(
    app: Celery, task_id: str, terminate: bool = False, signal: str = "SIGTERM"
) -> dict[str, object]:
    """Revoke a task on every worker (and terminate it where it runs, if asked)."""
    app.control.revoke(task_id, terminate=terminate, signal=signal)
    verb = "terminate" if terminate else "revoke"
    return {"ok": f"{verb} sent for {task_id}"}


def _literal(text: object, kind: type) -> object:
    if not isinstance(text, str) or not text:
        return kind()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ActionError(
            f"cannot re-run: the stored arguments {text[:80]!r} are a repr that does not read "
            "back as Python literals (argsrepr hides them, or they are objects); enable "
            "result_extended so the backend keeps the real arguments",
            status=409,
        ) from exc
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        raise ActionError(
            f"cannot re-run: stored arguments {text[:80]!r} are not a {kind.__name__}", 409
        )
    return value


def rerun(app: Celery, row: TaskRow) -> dict[str, object]:
    """Send a failed (or revoked) task again with the same name and arguments.

    The arguments come from the result backend when it keeps them (``result_extended``),
    else from the events' ``args``/``kwargs`` reprs when they read back as literals.

    Raises:
        ActionError: the task is not finished, or its arguments cannot be recovered.
    """
    if row.get("state") not in ("FAILURE", "REVOKED", "REJECTED", "SUCCESS"):
        raise ActionError(
            f"only a finished task can be re-run (this one is {row.get('state')})", 409
        )
    name = row.get("name")
    if not isinstance(name, str):
        raise ActionError("cannot re-run: the task's name is unknown", 409)
    try:
        meta = app.backend.get(str(row["uuid"])) or {}
    except Exception:
        meta = {}
    args: list[object]
    kwargs: dict[str, object]
    if isinstance(meta.get("args"), list | tuple) and isinstance(meta.get("kwargs"), dict):
        args, kwargs = list(meta["args"]), dict(meta["kwargs"])
    else:
        args = list(_literal(row.get("args"), list))  # type: ignore[call-overload]
        kwargs = dict(_literal(row.get("kwargs"), dict))  # type: ignore[call-overload]
    queue = row.get("queue")
    result = app.send_task(name, args, kwargs, queue=queue if isinstance(queue, str) else None)
    return {"task-id": result.id, "rerun_of": row["uuid"]}


def apply_task(app: Celery, name: str, body: Mapping[str, object]) -> dict[str, object]:
    """Send task ``name`` with ``{"args": [...], "kwargs": {...}, <options>}`` (Flower's API).

    Raises:
        ActionError: ``args`` is not a list or ``kwargs`` not an object.
    """
    args = body.get("args", [])
    kwargs = body.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ActionError("args must be a JSON array and kwargs a JSON object")
    options: dict[str, Any] = {
        k: v
        for k, v in body.items()
        if k in ("queue", "countdown", "eta", "expires", "priority", "routing_key", "task_id")
    }
    result = app.send_task(name, args, kwargs, **options)
    return {"task-id": result.id, "state": "PENDING"}
