"""Celery's ``celery.contrib.migrate``: move task messages between queues and brokers.

The implementation is :mod:`celeriac.apps.migrate` (``celeriac migrate`` uses it too).
"""

from __future__ import annotations

from celeriac.apps.migrate import (
    State,
    StopFiltering,
    migrate_task,
    migrate_tasks,
    move,
    move_by_idmap,
    move_by_taskmap,
    move_direct,
    move_direct_by_id,
    move_task_by_id,
    republish,
    start_filter,
    task_id_eq,
    task_id_in,
)

__all__ = [
    "State",
    "StopFiltering",
    "migrate_task",
    "migrate_tasks",
    "move",
    "move_by_idmap",
    "move_by_taskmap",
    "move_direct",
    "move_direct_by_id",
    "move_task_by_id",
    "republish",
    "start_filter",
    "task_id_eq",
    "task_id_in",
]
