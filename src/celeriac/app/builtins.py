"""Tasks every app has (Celery's ``celery.*`` names) and the shared_task registry hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.app import context

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["register_builtins"]


def register_builtins(app: Celery) -> None:
    """Register the built-in tasks and every ``shared_task`` defined so far with ``app``."""

    def backend_cleanup() -> int:
        """Delete expired results (Celery's ``celery.backend_cleanup``)."""
        return app.backend.cleanup()

    app.task(name="celery.backend_cleanup", ignore_result=True, typing=False)(backend_cleanup)
    for task, _options in context.shared_task_factories:
        app.tasks.register(task)


def shared_task_register(task: Any, options: dict[str, Any]) -> None:
    """Remember a shared task for apps made later and register it with existing ones."""
    context.shared_task_factories.append((task, options))
    for app in context.registered_apps:
        app.tasks.register(task)
