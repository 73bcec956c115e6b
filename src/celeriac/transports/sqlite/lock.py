"""The leader lock and its state for the SQLite broker (beat): two small tables in the file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection

__all__ = ["SQLiteLocks"]


class SQLiteLocks(SQLiteConnection):
    """The :class:`~celeriac.transports.contracts.LockStore` capability: lock rows with an
    expiry (epoch seconds), taken in ``BEGIN IMMEDIATE`` transactions.

    Every process on the machine sees the same clock, so an expiry in epoch seconds is safe.
    """

    _lock_schema_ready: bool = False

    def _lock_schema(self, conn: sqlite3.Connection) -> None:
        if not self._lock_schema_ready:
            for statement in schema.LOCK_SCHEMA:
                conn.execute(statement)
            self._lock_schema_ready = True

    @staticmethod
    def _take(conn: sqlite3.Connection, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        row = conn.execute(schema.LOCK_HOLDER, (name,))
        found = row.fetchone()
        if found is not None and found[0] != owner and found[1] > now:
            return False
        conn.execute(schema.TAKE_LOCK, (name, owner, now + ttl))
        return True

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lock (see ``LockStore.acquire_lock``)."""
        with self._db.write() as conn:
            self._lock_schema(conn)
            return self._take(conn, name, owner, ttl)

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""
        with self._db.write() as conn:
            self._lock_schema(conn)
            conn.execute(schema.RELEASE_LOCK, (name, owner))

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The state stored beside the lock."""
        with self._db.write() as conn:
            self._lock_schema(conn)
            rows = conn.execute(schema.READ_LOCK_STATE, (name,)).fetchall()
        return {str(key): str(value) for key, value in rows}

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Store ``items`` if ``owner`` holds the lock (renewing it), in one transaction."""
        with self._db.write() as conn:
            self._lock_schema(conn)
            row = conn.execute(schema.LOCK_HOLDER, (name,)).fetchone()
            if row is None or row[0] != owner or row[1] <= time.time():
                return False
            self._take(conn, name, owner, ttl)
            conn.executemany(
                schema.WRITE_LOCK_STATE, [(name, key, value) for key, value in items.items()]
            )
            return True
