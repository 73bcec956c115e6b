"""Seed the history from the result backend at start, so a new dashboard is not empty.

Each stored meta becomes a task row (state, result or exception, traceback, the time it
finished and, with ``result_extended``, name, args, kwargs, worker and queue). Rows the
history already holds are left as they are: events know more than result metas.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from celeriac.dashboard.records import TaskRow, new_row
from celeriac.dashboard.store import TaskStore
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["row_from_meta", "seed_from_backend"]

logger = own_logger(__name__)

_TIME_OF_STATE = {"SUCCESS": "succeeded", "FAILURE": "failed", "REVOKED": "revoked",
                  "RETRY": "retried", "STARTED": "started", "REJECTED": "rejected"}  # fmt: skip


def _exception(value: object) -> str | None:
    if isinstance(value, Mapping) and "exc_type" in value:
        message = value.get("exc_message")
        parts = message if isinstance(message, list | tuple) else [message]
        return f"{value['exc_type']}({', '.join(repr(p) for p in parts)})"
    return repr(value) if value is not None else None


def _when(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def row_from_meta(task_id: str, meta: Mapping[str, object], now: float) -> TaskRow:
    """A task row from a result meta (Celery's ``celery-task-meta-<id>`` value)."""
    row = new_row(task_id)
    state = str(meta.get("status") or "PENDING")
    row["state"] = state
    at = _when(meta.get("date_done")) or now
    row["timestamp"] = at
    if state in _TIME_OF_STATE:
        row[_TIME_OF_STATE[state]] = at
    result = meta.get("result")
    if state == "SUCCESS":
        row["result"] = repr(result)
    elif state in ("FAILURE", "RETRY", "REVOKED", "REJECTED"):
        row["exception"] = _exception(result)
    if isinstance(meta.get("traceback"), str):
        row["traceback"] = meta["traceback"]
    for field, column in (("name", "name"), ("worker", "hostname"), ("queue", "queue"),
                          ("retries", "retries"), ("parent_id", "parent_id"),
                          ("root_id", "root_id")):  # fmt: skip
        if meta.get(field) is not None:
            row[column] = meta[field]
    args, kwargs = meta.get("args"), meta.get("kwargs")
    if isinstance(args, list | tuple):
        row["args"] = repr(tuple(args))
    if isinstance(kwargs, Mapping):
        row["kwargs"] = repr(dict(kwargs))
    return row


def seed_from_backend(app: Celery, store: TaskStore, limit: int, now: float) -> int:
    """Add up to ``limit`` results the history lacks; return how many were added."""
    try:
        metas = app.backend.recent_results(limit)
    except Exception as exc:
        logger.warning("dashboard: cannot read the result backend to seed the history: %s", exc)
        return 0
    known = store.rows([task_id for task_id, _ in metas])
    rows = [row_from_meta(t, m, now) for t, m in metas if t not in known and isinstance(m, Mapping)]
    if rows:
        store.upsert(rows, new=len(rows))
    logger.info("dashboard: seeded %d tasks from the result backend", len(rows))
    return len(rows)
