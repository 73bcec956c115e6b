"""Celery's ``celery.concurrency.solo``: run each target inline, in the calling thread."""

from __future__ import annotations

import os
from typing import Any

from celeriac.concurrency.base import BasePool, apply_target
from celeriac.signals import worker_process_init

__all__ = ["TaskPool"]


class TaskPool(BasePool):
    """Solo pool: blocking, inline; sends ``worker_process_init`` when created, as Celery's."""

    body_can_be_buffer = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = 1
        initargs = self.options.get("initargs") or (None, None)
        worker_process_init.send(sender=initargs[1])

    def on_apply(self, *args: Any, **kwargs: Any) -> None:
        """Run the target now (:func:`apply_target`)."""
        apply_target(*args, **kwargs)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"max-concurrency": 1, "processes": [os.getpid()], "max-tasks-per-child": None})
        return info
