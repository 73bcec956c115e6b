"""Abortable tasks: the caller asks, the task checks and stops (``celery.contrib.abortable``).

``AbortableAsyncResult.abort()`` stores the ``ABORTED`` state for the task; the task's body
calls ``self.is_aborted()`` at safe points and returns early when it is true. Nothing is
interrupted by force. The result backend must be on, as in Celery.

Example::

    @app.task(bind=True, base=AbortableTask)
    def long_job(self):
        for step in range(1000):
            if self.is_aborted():
                return "aborted"
            do(step)

    result = long_job.delay()
    AbortableAsyncResult(result.id).abort()
"""

from __future__ import annotations

from typing import Any

from celeriac.app.task import Task
from celeriac.result import AsyncResult

__all__ = ["ABORTED", "AbortableAsyncResult", "AbortableTask"]

#: The state ``abort()`` stores.
ABORTED = "ABORTED"


class AbortableAsyncResult(AsyncResult[Any]):
    """A result whose task can be asked to stop."""

    def is_aborted(self) -> bool:
        """Whether ``abort()`` was called for this task (and it has not finished since)."""
        return self.state == ABORTED

    def abort(self) -> None:
        """Ask the task to stop: store ``ABORTED`` (the task sees it at its next check)."""
        self.backend.store(self.id, self.app.result_meta(self.id, ABORTED, None))


class AbortableTask(Task[Any, Any]):
    """A task base whose body can check :meth:`is_aborted`."""

    abstract = True

    def AsyncResult(
        self, task_id: str, *, parent: AsyncResult[object] | None = None
    ) -> AbortableAsyncResult:
        """The result of one of this task's runs, abortable."""
        return AbortableAsyncResult(task_id, app=self.app, task_name=self.name, parent=parent)

    def is_aborted(self, **kwargs: Any) -> bool:
        """Whether the running request (or ``task_id=``) was aborted."""
        task_id = kwargs.get("task_id", self.request.id)
        if not task_id:
            return False
        return self.AsyncResult(task_id).is_aborted()
