"""The embedded result store (``sqlite:///file.db``): results in a SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from celeriac import states
from celeriac.backends.base import Backend, BackendOptions, ChordBackend, ChordClaim
from celeriac.exceptions import BackendError, DecodeError, TimeoutError
from celeriac.utils.sqlite import DEFAULT_BUSY_TIMEOUT, SQLiteDatabase, sqlite_path

__all__ = ["SQLiteBackend"]

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS celeriac_results (
        task_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        meta BLOB NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_results_expires
        ON celeriac_results (expires_at) WHERE expires_at IS NOT NULL
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_groups (
        group_id TEXT PRIMARY KEY,
        meta BLOB NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_groups_expires
        ON celeriac_groups (expires_at) WHERE expires_at IS NOT NULL
    """,
    # Chord counters: one row per chord, one per recorded header part.
    """
    CREATE TABLE IF NOT EXISTS celeriac_chords (
        group_id TEXT PRIMARY KEY,
        size INTEGER,
        extra INTEGER NOT NULL DEFAULT 0,
        claim TEXT,
        expires_at REAL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_chord_parts (
        group_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        group_index INTEGER NOT NULL,
        part BLOB NOT NULL,
        PRIMARY KEY (group_id, task_id, group_index)
    )
    """,
)

# A stored SUCCESS is kept, unless it has expired (it then reads as PENDING anyway).
_UPSERT = """
    INSERT INTO celeriac_results (task_id, status, meta, updated_at, expires_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = excluded.status,
        meta = excluded.meta,
        updated_at = excluded.updated_at,
        expires_at = excluded.expires_at
    WHERE celeriac_results.status != 'SUCCESS'
        OR celeriac_results.expires_at <= excluded.updated_at
"""
_GET = (
    "SELECT status, meta FROM celeriac_results"
    " WHERE task_id = ? AND (expires_at IS NULL OR expires_at > ?)"
)
_SAVE_GROUP = (
    "INSERT OR REPLACE INTO celeriac_groups (group_id, meta, updated_at, expires_at)"
    " VALUES (?, ?, ?, ?)"
)
_GET_GROUP = (
    "SELECT meta FROM celeriac_groups WHERE group_id = ? AND (expires_at IS NULL OR expires_at > ?)"
)

#: The index a part without ``group_index`` sorts at (last, as Celery's ``+inf`` score).
_NO_INDEX = 2**62

#: Longest pause between two looks at ``PRAGMA data_version`` while waiting for a result.
WAIT_POLL_CEILING = 0.01


class SQLiteBackend(ChordBackend, Backend):
    """Results in a SQLite file (WAL mode), which may be the broker's file too.

    Every thread of every process has its own connection. Waiting for a result polls
    ``PRAGMA data_version`` (a few microseconds; it changes when another connection
    commits) from 1 ms up to 10 ms and reads the row only when it changed; a store made
    through this same backend object wakes waiters at once.
    """

    schemes = ("sqlite",)
    crosses_processes = True

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self.path = sqlite_path(url)
        extra = self.options.extra or {}
        self._db = SQLiteDatabase(
            self.path,
            error=BackendError,
            schema=SCHEMA,
            busy_timeout=float(extra.get("busy_timeout", DEFAULT_BUSY_TIMEOUT)),
        )
        self._changed = threading.Condition()
        self._stores = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    def _expires_at(self, now: float, status: str | None = None) -> float | None:
        expires = self.options.expires_for(status)
        return now + expires if expires else None

    # -- storage -----------------------------------------------------------------------
    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store several metas in one transaction; a stored ``SUCCESS`` is never overwritten."""
        if not items:
            return
        with self._db.write() as conn:
            self.write_rows(conn, items)
        self.notify_stored()

    def ensure_schema(self) -> None:
        """Create this backend's tables in the file if they are missing."""
        with self._db.connection():
            pass

    def write_rows(
        self, conn: sqlite3.Connection, items: Sequence[tuple[str, Mapping[str, object]]]
    ) -> None:
        """Write metas inside a transaction someone else opened on the same file.

        The SQLite broker uses this to store results and ack their messages in one
        transaction when both live in one file.
        """
        now = time.time()
        rows = []
        for task_id, meta in items:
            status = str(meta.get("status") or states.PENDING)
            rows.append((task_id, status, self.encode(meta), now, self._expires_at(now, status)))
        conn.executemany(_UPSERT, rows)

    def notify_stored(self) -> None:
        """Wake whoever waits for a result: after :meth:`write_rows` in a broker's transaction."""
        with self._changed:
            self._stores += 1
            self._changed.notify_all()
            waiters = list(self._waiters)
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed
                pass

    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored or it expired."""
        with self._db.connection() as conn:
            row = conn.execute(_GET, (task_id, time.time())).fetchone()
        return None if row is None else self.decode(bytes(row[1]))

    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM celeriac_results WHERE task_id = ?", (task_id,))

    def recent_results(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """The ``limit`` most recently stored metas that have not expired."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT task_id, meta FROM celeriac_results WHERE expires_at IS NULL "
                "OR expires_at > ? ORDER BY updated_at DESC LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        found = []
        for task_id, meta in rows:
            try:
                found.append((str(task_id), self.decode(bytes(meta))))
            except (DecodeError, ValueError, TypeError):
                continue
        return found

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group's meta."""
        now = time.time()
        row = (group_id, self.encode(meta), now, self._expires_at(now))
        with self._db.write() as conn:
            conn.execute(_SAVE_GROUP, row)

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """Read a group's meta; ``None`` when not saved or expired."""
        with self._db.connection() as conn:
            row = conn.execute(_GET_GROUP, (group_id, time.time())).fetchone()
        return None if row is None else self.decode(bytes(row[0]))

    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM celeriac_groups WHERE group_id = ?", (group_id,))

    def cleanup(self) -> int:
        """Delete expired results and groups; return how many rows went."""
        now = time.time()
        with self._db.write() as conn:
            removed = conn.execute(
                "DELETE FROM celeriac_results WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).rowcount
            removed += conn.execute(
                "DELETE FROM celeriac_groups WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).rowcount
            conn.execute(
                "DELETE FROM celeriac_chord_parts WHERE group_id IN (SELECT group_id FROM"
                " celeriac_chords WHERE expires_at IS NOT NULL AND expires_at <= ?)",
                (now,),
            )
            conn.execute(
                "DELETE FROM celeriac_chords WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            )
        return removed

    def close(self) -> None:
        """Close this process's connections (they reopen on next use)."""
        self._db.close()

    # -- waiting -----------------------------------------------------------------------
    def _peek(self, task_id: str, seen: dict[int, int]) -> dict[str, Any] | None:
        """The task's meta if ready, read only when the file changed since this thread looked.

        ``seen`` maps a thread to the ``data_version`` its connection showed last (the
        value is per connection, so it is only comparable on the same thread).
        """
        thread = threading.get_ident()
        with self._db.connection() as conn:
            version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            if seen.get(thread) == version:
                return None
            seen[thread] = version
            row = conn.execute(_GET, (task_id, time.time())).fetchone()
        if row is None or row[0] not in states.READY_STATES:
            return None
        return self.decode(bytes(row[1]))

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Block until the task is ready; return its meta.

        Looks at ``PRAGMA data_version`` every 1 ms at first, backing off to 10 ms (or
        ``interval`` if smaller), and reads the row only when the file changed.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        ceiling = max(0.001, min(interval, WAIT_POLL_CEILING))
        delay = 0.001
        seen: dict[int, int] = {}
        while True:
            stores = self._stores
            meta = self._peek(task_id, seen)
            if meta is not None:
                return meta
            pause = delay
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}")
                pause = min(pause, remaining)
            with self._changed:
                if self._stores == stores:
                    self._changed.wait(pause)
            delay = min(delay * 1.5, ceiling)

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for` (each look runs on a worker thread)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        ceiling = max(0.001, min(interval, WAIT_POLL_CEILING))
        delay = 0.001
        seen: dict[int, int] = {}
        while True:
            future: asyncio.Future[None] = loop.create_future()
            waiter = (loop, future)
            with self._changed:
                self._waiters.add(waiter)
            try:
                meta = await asyncio.to_thread(self._peek, task_id, seen)
                if meta is not None:
                    return meta
                pause = delay
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(f"The operation timed out waiting for task {task_id}")
                    pause = min(pause, remaining)
                handle = loop.call_later(pause, _wake, future)
                try:
                    await future
                finally:
                    handle.cancel()
            finally:
                with self._changed:
                    self._waiters.discard(waiter)
            delay = min(delay * 1.5, ceiling)

    # -- chords (counters updated in one IMMEDIATE transaction) ---------------------------
    def set_chord_size(self, group_id: str, size: int) -> None:
        """Register a chord's header size (a new run of a reused group id starts over)."""
        now = time.time()
        with self._db.write() as conn:
            conn.execute("DELETE FROM celeriac_chord_parts WHERE group_id = ?", (group_id,))
            conn.execute(
                "INSERT OR REPLACE INTO celeriac_chords (group_id, size, extra, claim, expires_at)"
                " VALUES (?, ?, 0, NULL, ?)",
                (group_id, size, self._expires_at(now)),
            )

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Record a part, count and claim in one transaction: only one caller completes it."""
        index = _NO_INDEX if group_index is None else int(group_index)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT size, extra, claim FROM celeriac_chords WHERE group_id = ?", (group_id,)
            ).fetchone()
            if row is not None and row[2] is not None:
                return None
            conn.execute(
                "INSERT OR IGNORE INTO celeriac_chord_parts (group_id, task_id, group_index, part)"
                " VALUES (?, ?, ?, ?)",
                (group_id, task_id, index, part),
            )
            if row is None or row[0] is None:
                return None
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM celeriac_chord_parts WHERE group_id = ?", (group_id,)
            ).fetchone()
            if count != int(row[0]) + int(row[1]):
                return None
            token = uuid.uuid4().hex
            conn.execute(
                "UPDATE celeriac_chords SET claim = ? WHERE group_id = ?", (token, group_id)
            )
            members = conn.execute(
                "SELECT part FROM celeriac_chord_parts WHERE group_id = ?"
                " ORDER BY group_index, part",
                (group_id,),
            ).fetchall()
        return ChordClaim(token, [bytes(member) for (member,) in members])

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Drop the parts; the chord row stays (claimed) so late duplicates are ignored."""
        with self._db.write() as conn:
            conn.execute(
                "DELETE FROM celeriac_chord_parts WHERE group_id = ? AND EXISTS ("
                " SELECT 1 FROM celeriac_chords WHERE group_id = ? AND claim = ?)",
                (group_id, group_id, token),
            )

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """Wait for ``count`` more parts."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO celeriac_chords (group_id, size, extra) VALUES (?, NULL, ?)"
                " ON CONFLICT (group_id) DO UPDATE SET extra = extra + excluded.extra",
                (group_id, count),
            )


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
