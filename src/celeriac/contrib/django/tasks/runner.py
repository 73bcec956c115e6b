"""The worker side: ``celeriac.django_task`` runs a tasks-framework task by its path.

The Django fixup registers it in the worker when ``TASKS`` names
:class:`~celeriac.contrib.django.tasks.CeleriacBackend`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celeriac.contrib.django.tasks import compat
from celeriac.contrib.django.tasks.backend import RUNNER, record_id

__all__ = ["register"]


def register(app: Any) -> None:
    """Register ``celeriac.django_task`` on ``app`` (once)."""
    if RUNNER in app.tasks:
        return

    @app.task(name=RUNNER, bind=True, typing=False)
    def run_django_task(
        self: Any,
        module_path: str,
        args: list[Any],
        kwargs: dict[str, Any],
        takes_context: bool = False,
        alias: str = "default",
    ) -> Any:
        from django.utils import timezone
        from django.utils.module_loading import import_string

        task_id = str(self.request.id)
        started = timezone.now()
        _record_start(self.app, task_id, started, str(self.request.hostname or ""))
        from celeriac.contrib.django.tasks.compat import base, signals, utils

        backends = _backends()
        task = import_string(module_path)
        result = backends[alias].get_result(task_id)
        signals.task_started.send(type(backends[alias]), task_result=result)
        try:
            if takes_context:
                value = task.call(base.TaskContext(task_result=result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            return utils.normalize_json(value)
        finally:
            signals.task_finished.send(type(backends[alias]), task_result=result)


def _backends() -> Any:
    import importlib

    return importlib.import_module(compat.ROOT).task_backends


def _record_start(app: Any, task_id: str, started: dt.datetime, worker: str) -> None:
    """Note the start (and this worker) in the task's framework record."""
    backend = app.backend
    record = backend.get(record_id(task_id))
    if record is None or not isinstance(record.get("result"), dict):
        return
    info = dict(record["result"])
    info["started_at"] = started.isoformat()
    info["worker_ids"] = [*info.get("worker_ids", []), worker]
    backend.store(record_id(task_id), {**record, "result": info})
