"""Queue administration on the SQLite broker: lengths, purges, the dead-letter table."""

from __future__ import annotations

import time

from celeriac.transports.base import DeadLetter
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.deadletters import SQLiteDeadLetters

__all__ = ["SQLiteAdmin"]


class SQLiteAdmin(SQLiteDeadLetters):
    """The :class:`~celeriac.transports.contracts.Admin` capability (sync), and
    :class:`~celeriac.transports.contracts.DeadLetters` (``deadletters.py``)."""

    def queue_length(self, queue: str) -> int:
        """Messages waiting in ``queue``, delayed ones included and leased ones excluded."""
        now = time.time()
        with self._db.connection() as conn:
            row = conn.execute(schema.QUEUE_LENGTH, (queue, queue, now)).fetchone()
        return int(row[0])

    def purge(self, queue: str) -> int:
        """Delete every waiting (not leased) message of ``queue``; return how many."""
        now = time.time()
        with self._db.write() as conn:
            cursor = conn.execute(schema.PURGE, (queue, now))
            return cursor.rowcount

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest last."""
        return self.list_dead_letters(None, limit)
