"""One SQL connection, SQLite (the standard library) or PostgreSQL (psycopg), used from threads.

The store writes its SQL once, with ``?`` placeholders and the subset of SQL both
databases share (``INSERT ... ON CONFLICT ... DO UPDATE``, ``LIMIT/OFFSET``); this module
turns ``?`` into ``%s`` for PostgreSQL. Each :class:`Database` is one connection guarded by
a lock: the dashboard opens one for writing (the ingest loop) and one for reading (the
API), so a long query never waits behind a batch of writes on SQLite's WAL journal.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "Checkpointer",
    "Database",
    "DatabasePool",
    "Params",
    "Row",
    "open_database",
    "sqlite_file",
]

#: One result row.
Row = tuple[object, ...]
#: Query parameters.
Params = Sequence[object]


class _Cursor(Protocol):
    def execute(self, sql: str, params: Params = ...) -> object: ...
    def executemany(self, sql: str, params: Iterable[Params]) -> object: ...
    def fetchall(self) -> list[Row]: ...


class _Connection(Protocol):
    def cursor(self) -> _Cursor: ...
    def close(self) -> None: ...


class Database:
    """A connection and its dialect; every call holds the lock (callable from any thread)."""

    def __init__(self, connection: _Connection, dialect: str) -> None:
        self.dialect = dialect
        self._connection = connection
        self._lock = threading.Lock()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a SELECT and return its rows."""
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute(self._sql(sql), params)
            return cursor.fetchall()

    def execute(self, sql: str, params: Params = ()) -> None:
        """Run one statement (committed at once)."""
        with self._lock:
            self._connection.cursor().execute(self._sql(sql), params)

    def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row, in one transaction."""
        with self._lock:
            cursor = self._connection.cursor()
            if self.dialect == "sqlite":
                cursor.execute("BEGIN")
                try:
                    cursor.executemany(sql, rows)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
            else:
                cursor.executemany(self._sql(sql), rows)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()


class DatabasePool:
    """Several connections for reading, so a slow query (a substring search over a million
    rows) does not hold up the others; each query takes a free connection."""

    def __init__(self, url: str, size: int) -> None:
        self._free: queue.SimpleQueue[Database] = queue.SimpleQueue()
        self._all = [open_database(url) for _ in range(size)]
        for database in self._all:
            self._free.put(database)
        self.dialect = self._all[0].dialect

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a SELECT on a free connection and return its rows."""
        database = self._free.get()
        try:
            return database.query(sql, params)
        finally:
            self._free.put(database)

    def close(self) -> None:
        """Close every connection."""
        for database in self._all:
            database.close()


def _open_sqlite(path: str) -> Database:
    if path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA cache_size=-16000")  # 16 MB: keeps RSS small at a million rows
    return Database(connection, "sqlite")


class Checkpointer:
    """Copies SQLite's write-ahead log into the database from a thread of its own.

    The writer connection's automatic checkpoint would do it inside an ingest batch's
    COMMIT (writing pages back and syncing the file); a passive checkpoint here never
    blocks the writer or the readers.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                continue

    def close(self) -> None:
        """Stop, and checkpoint once more."""
        self._stop.set()
        self._thread.join(5)
        try:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            self._connection.close()


def _open_postgres(url: str) -> Database:
    try:
        import psycopg
    except ImportError as exc:
        raise ImproperlyConfigured(
            "a PostgreSQL history store needs psycopg: pip install 'psycopg[binary]'"
        ) from exc
    connection = psycopg.connect(url, autocommit=True)
    return Database(connection, "postgresql")


def sqlite_file(url: str) -> str | None:
    """The file a SQLite store URL names, or None (PostgreSQL, in-memory)."""
    if url.startswith(("postgresql://", "postgres://")) or url in (":memory:", "sqlite://"):
        return None
    path = url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite://") else url
    return path or None


def open_database(url: str) -> Database:
    """Open ``sqlite:///path``, a plain file path, or ``postgresql://...``.

    Raises:
        ImproperlyConfigured: the URL names another database, or psycopg is missing.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url)
    if "://" in url and not url.startswith("sqlite://"):
        raise ImproperlyConfigured(
            f"unsupported history store {url!r}: use a file path, sqlite:///path "
            "or postgresql://user@host/db"
        )
    return _open_sqlite(sqlite_file(url) or ":memory:")
