"""``CeleriacBackend``: a tasks-framework backend that enqueues onto celeriac.

``task.enqueue(*args)`` sends one celeriac message (the task ``celeriac.django_task``,
which the worker's Django fixup registers) to the task's queue, with its priority and
``run_after`` as the message's priority and ETA; ``TaskResult`` reads the state from
celeriac's result backend. Beside each result, a small record under ``<id>.django-task``
keeps what the framework's ``TaskResult`` needs and celeriac's meta lacks (the task's path,
its arguments, when it was enqueued and started, which workers ran it).

``OPTIONS``: ``"APP"`` (``"proj.celery:app"``; default: the current app),
``"ENQUEUE_ON_COMMIT"`` (send once the open transaction commits; default False).
``QUEUES`` lists the queue names tasks may use (the framework's ``"default"`` means the
app's ``task_default_queue``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from celeriac import states
from celeriac.contrib.django.tasks import compat

__all__ = ["RUNNER", "CeleriacBackend", "record_id"]

#: The celeriac task that runs a framework task in the worker.
RUNNER = "celeriac.django_task"

#: Framework priorities (-100..100, higher first) onto the broker's ten levels.
_MIN, _MAX = -100, 100

_STATUS = {
    states.PENDING: "READY",
    states.RECEIVED: "READY",
    states.STARTED: "RUNNING",
    states.RETRY: "RUNNING",
    states.SUCCESS: "SUCCESSFUL",
    states.FAILURE: "FAILED",
    states.REVOKED: "FAILED",
}


def record_id(task_id: str) -> str:
    """Where the framework's record of a task is kept beside its result."""
    return f"{task_id}.django-task"


class CeleriacBackend(compat.backends_base.BaseTaskBackend):  # type: ignore[name-defined]
    """Tasks run by celeriac workers; results read from celeriac's result backend."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._app_path = self.options.get("APP")
        self.enqueue_on_commit = bool(self.options.get("ENQUEUE_ON_COMMIT", False))

    @property
    def app(self) -> Any:
        """The celeriac app that sends the tasks and reads their results."""
        if self._app_path:
            from celeriac.utils.imports import import_from_string

            return import_from_string(str(self._app_path))
        from celeriac.execution.context import get_current_app

        return get_current_app()

    # -- sending ---------------------------------------------------------------------
    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Send ``task(*args, **kwargs)`` to a celeriac worker; return its ``TaskResult``."""
        self.validate_task(task)
        utils = compat.utils
        task_id = str(uuid.uuid4())
        now = _now()
        args = utils.normalize_json(list(args))
        kwargs = utils.normalize_json(dict(kwargs))
        app = self.app
        app.backend.store(
            record_id(task_id),
            {
                "status": states.RECEIVED,
                "result": {
                    "module_path": task.module_path,
                    "args": args,
                    "kwargs": kwargs,
                    "enqueued_at": now.isoformat(),
                    "worker_ids": [],
                },
                "task_id": record_id(task_id),
            },
        )
        options: dict[str, Any] = {
            "task_id": task_id,
            "queue": self._queue(app, task),
            "priority": self._priority(app, task.priority),
        }
        if task.run_after is not None:
            options["eta"] = task.run_after
        message = [task.module_path, args, kwargs, task.takes_context, self.alias]

        def send() -> None:
            app.send_task(RUNNER, args=message, **options)

        if self.enqueue_on_commit:
            from django.db import transaction

            transaction.on_commit(send)
        else:
            send()
        result = self._result(task, task_id, "READY", args, kwargs, enqueued_at=now)
        compat.signals.task_enqueued.send(type(self), task_result=result)
        return result

    def _queue(self, app: Any, task: Any) -> str:
        name = str(task.queue_name)
        return str(app.conf.task_default_queue) if name == "default" else name

    @staticmethod
    def _priority(app: Any, priority: int) -> int:
        """0-9 in the broker's order: higher first, except Redis (kombu: lower first)."""
        level = round((priority - _MIN) * 9 / (_MAX - _MIN))
        scheme = str(app.broker_url).split(":", 1)[0]
        return 9 - level if scheme in ("redis", "rediss", "redis+socket", "sentinel") else level

    # -- reading ---------------------------------------------------------------------
    def get_result(self, result_id: str) -> Any:
        """The ``TaskResult`` of an enqueued task.

        Raises:
            TaskResultDoesNotExist: no task was enqueued with this id (or it expired).
        """
        backend = self.app.backend
        record = backend.get(record_id(result_id))
        if record is None or not isinstance(record.get("result"), dict):
            raise compat.exceptions.TaskResultDoesNotExist(result_id)
        info = record["result"]
        from django.utils.module_loading import import_string

        task = import_string(info["module_path"])
        meta = backend.get(result_id) or {"status": states.PENDING}
        status = _STATUS.get(str(meta.get("status")), "READY")
        if status == "READY" and info.get("started_at"):
            status = "RUNNING"
        finished = _date(meta.get("date_done")) if status in ("SUCCESSFUL", "FAILED") else None
        errors = []
        if status == "FAILED":
            errors.append(_error(meta))
        result = self._result(
            task,
            result_id,
            status,
            info.get("args", []),
            info.get("kwargs", {}),
            enqueued_at=_date(info.get("enqueued_at")),
            started_at=_date(info.get("started_at")),
            finished_at=finished,
            errors=errors,
            worker_ids=list(info.get("worker_ids") or []),
        )
        if status == "SUCCESSFUL":
            object.__setattr__(result, "_return_value", meta.get("result"))
        return result

    def _result(
        self,
        task: Any,
        task_id: str,
        status: str,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        enqueued_at: dt.datetime | None = None,
        started_at: dt.datetime | None = None,
        finished_at: dt.datetime | None = None,
        errors: list[Any] | None = None,
        worker_ids: list[str] | None = None,
    ) -> Any:
        return compat.base.TaskResult(
            task=task,
            id=task_id,
            status=compat.base.TaskResultStatus[status],
            enqueued_at=enqueued_at,
            started_at=started_at,
            finished_at=finished_at,
            last_attempted_at=started_at,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=errors or [],
            worker_ids=worker_ids or [],
        )


def _error(meta: Mapping[str, Any]) -> Any:
    exc = meta.get("result")
    if isinstance(exc, dict) and exc.get("exc_type"):
        module = exc.get("exc_module") or "builtins"
        path = f"{module}.{exc['exc_type']}"
    else:
        path = "builtins.Exception"
    return compat.base.TaskError(exception_class_path=path, traceback=meta.get("traceback") or "")


def _now() -> dt.datetime:
    from django.utils import timezone

    now: dt.datetime = timezone.now()
    return now


def _date(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
