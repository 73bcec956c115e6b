"""Tasks every app has (Celery's ``celery.*`` names): cleanup and the workflow tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.app.shared import shared_tasks
from celeriac.canvas.workflow_tasks import workflow_tasks

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["register_builtins"]


def register_builtins(app: Celery) -> None:
    """Register the built-in tasks and every ``shared_task`` defined so far with ``app``."""

    def backend_cleanup() -> int:
        """Delete expired results (Celery's ``celery.backend_cleanup``)."""
        return app.backend.cleanup()

    app.task(name="celery.backend_cleanup", ignore_result=True, typing=False)(backend_cleanup)
    for builtin in workflow_tasks(app):
        app._create_task(builtin.function, {**builtin.options, "name": builtin.name})
    for task in shared_tasks:
        app.tasks.register(task)
