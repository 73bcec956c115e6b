"""The dead-letter table: list by queue, requeue (back into the messages table), discard.

Each entry's id is its row id. A requeue inserts the stored envelope as a new ready
message of its queue (delivery count 0, the priority its properties name) and deletes
the dead row, in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import loads_envelope
from celeriac.transports.base import DeadLetter
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection
from celeriac.transports.sqlite.records import as_bytes
from celeriac.utils.doorbell import ring

__all__ = ["SQLiteDeadLetters"]


def _row_ids(ids: Sequence[str]) -> list[int]:
    """The ids that are row ids (anything else names no entry)."""
    return [int(i) for i in dict.fromkeys(ids) if i.isdigit()]


def _priority(raw: bytes) -> int:
    try:
        return max(0, min(9, loads_envelope(raw).priority))
    except (DecodeError, ValueError, TypeError):
        return 0


class SQLiteDeadLetters(SQLiteConnection):
    """The :class:`~celeriac.transports.contracts.DeadLetters` capability (sync)."""

    def list_dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest last."""
        with self._db.connection() as conn:
            if queue is None:
                rows = conn.execute(schema.DEAD_LETTERS, (max(0, limit),)).fetchall()
            else:
                rows = conn.execute(schema.DEAD_LETTERS_OF_QUEUE, (queue, max(0, limit))).fetchall()
        return [
            DeadLetter(
                queue=queue_name,
                reason=reason,
                raw=as_bytes(payload),
                created_at=created_at,
                task_id=task_id,
                task_name=task_name,
                id=str(row_id),
            )
            for row_id, queue_name, reason, payload, created_at, task_id, task_name in reversed(
                rows
            )
        ]

    def requeue_dead_letters(self, ids: Sequence[str]) -> int:
        """Move entries back to their queues as new ready messages (one transaction)."""
        row_ids = _row_ids(ids)
        if not row_ids:
            return 0
        moved = 0
        now = time.time()
        with self._db.write() as conn:
            for row_id in row_ids:
                row = conn.execute(schema.SELECT_DEAD, (row_id,)).fetchone()
                if row is None:
                    continue
                queue, raw = row[0], as_bytes(row[1])
                conn.execute(schema.INSERT, (queue, _priority(raw), 0.0, now, raw))
                conn.execute(schema.DELETE_DEAD, (row_id,))
                moved += 1
        if moved:
            self._notify()
            ring(self._bell_dir)
        return moved

    def discard_dead_letters(self, ids: Sequence[str]) -> int:
        """Delete dead rows for good (one transaction); return how many were there."""
        row_ids = _row_ids(ids)
        if not row_ids:
            return 0
        with self._db.write() as conn:
            return sum(conn.execute(schema.DELETE_DEAD, (i,)).rowcount for i in row_ids)
