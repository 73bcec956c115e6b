"""Celery's ``celery.contrib.django.task``: :class:`DjangoTask`, the task class Django
projects set (``app.Task``, ``task_cls=``).

Every celeriac task has ``delay_on_commit``/``apply_async_on_commit`` (they send once the
current Django transaction commits, through the Django fixup; without Django set up
they raise ``ImproperlyConfigured``); this class is there so a project that names
Celery's keeps working.
"""

from __future__ import annotations

from typing import Any

from celeriac.app.task import Task

__all__ = ["DjangoTask"]


class DjangoTask(Task[Any, Any]):
    """A task with ``delay_on_commit``/``apply_async_on_commit`` (as every celeriac task)."""
