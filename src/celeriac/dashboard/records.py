"""Task rows built from Celery's task events: which field each event sets, and which state wins.

Events are plain dicts with Celery's field names (``type``, ``uuid``, ``hostname``,
``timestamp``, ``name``, ``args`` ...). Events of one task may arrive out of order (a
worker batches them; several workers and the producer send them), so a row's state only
moves to an event's state when that state is later in the task's life: a finished task
stays finished, and among unfinished states the newer event wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

__all__ = [
    "COLUMNS",
    "READY_STATES",
    "TaskRow",
    "apply_event",
    "event_state",
    "new_row",
]

#: A stored task: column name -> value (str, float, int or None).
TaskRow = dict[str, object]

#: The columns of the ``tasks`` table, in order.
COLUMNS: Final = (
    "uuid",
    "name",
    "state",
    "hostname",
    "queue",
    "args",
    "kwargs",
    "result",
    "exception",
    "traceback",
    "root_id",
    "parent_id",
    "group_id",
    "retries",
    "eta",
    "expires",
    "sent",
    "received",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
    "runtime",
    "extra",
)

#: States after which a task does not change any more.
READY_STATES: Final = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})

_STATE_OF_TYPE: Final = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-retried": "RETRY",
    "task-revoked": "REVOKED",
    "task-rejected": "REJECTED",
}

#: The time column each event type stamps.
_TIME_COLUMN: Final = {
    "task-sent": "sent",
    "task-received": "received",
    "task-started": "started",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-retried": "retried",
    "task-revoked": "revoked",
    "task-rejected": "rejected",
}

#: Event fields copied into a column of the same name (``args``/``kwargs`` are reprs).
_PLAIN_FIELDS: Final = (
    "name",
    "args",
    "kwargs",
    "result",
    "exception",
    "traceback",
    "root_id",
    "parent_id",
    "retries",
    "eta",
    "expires",
    "queue",
    "runtime",
)

#: Fields every event has, never kept in ``extra``.
_COMMON_FIELDS: Final = frozenset(
    {"type", "uuid", "hostname", "timestamp", "utcoffset", "pid", "clock", "local_received",
     "group", "group_id"}
)  # fmt: skip

_RANK: Final = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "RETRY": 3}


def event_state(event_type: str) -> str | None:
    """The task state a task event stands for (``task-started`` -> ``STARTED``), or None."""
    return _STATE_OF_TYPE.get(event_type)


def new_row(uuid: str) -> TaskRow:
    """An empty row for task ``uuid`` (every column None, state ``PENDING``)."""
    row: TaskRow = dict.fromkeys(COLUMNS)
    row["uuid"] = uuid
    row["state"] = "PENDING"
    return row


def _wins(current: object, current_at: object, state: str, at: float) -> bool:
    if current is None or current_at is None:
        return True
    if state == "PENDING":
        # task-sent comes from the producer, often after the worker's first events.
        return current == "PENDING"
    if current in READY_STATES:
        return state in READY_STATES and isinstance(current_at, int | float) and at > current_at
    if state in READY_STATES:
        return True
    if isinstance(current_at, int | float) and at >= current_at:
        return True
    return _RANK.get(state, 0) > _RANK.get(str(current), 0)


def _text(value: object) -> object:
    if value is None or isinstance(value, str | int | float):
        return value
    return json.dumps(value, default=repr)


def apply_event(row: TaskRow, event: Mapping[str, object]) -> bool:
    """Merge one task event into ``row``; True when the row's state changed.

    Fields the event carries overwrite the row's (a later ``task-received`` of a retried
    task updates ``retries``); fields outside the columns go to ``extra`` (JSON).
    """
    kind = str(event.get("type", ""))
    state = _STATE_OF_TYPE.get(kind)
    if state is None:
        return False
    raw_at = event.get("timestamp")
    at = float(raw_at) if isinstance(raw_at, int | float) else 0.0
    for field in _PLAIN_FIELDS:
        if field in event and event[field] is not None:
            row[field] = _text(event[field])
    row[_TIME_COLUMN[kind]] = at
    group = event.get("group_id", event.get("group"))
    if isinstance(group, str) and group:
        row["group_id"] = group
    extras = {k: v for k, v in event.items() if k not in _COMMON_FIELDS and k not in row}
    if extras:
        merged = json.loads(str(row["extra"])) if row.get("extra") else {}
        merged.update(extras)
        row["extra"] = json.dumps(merged, default=repr)
    if kind != "task-sent" and event.get("hostname"):
        row["hostname"] = str(event["hostname"])
    if not _wins(row.get("state"), row.get("timestamp"), state, at):
        return False
    changed = row.get("state") != state
    row["state"] = state
    previous = row.get("timestamp")
    row["timestamp"] = max(at, float(previous)) if isinstance(previous, int | float) else at
    return changed
