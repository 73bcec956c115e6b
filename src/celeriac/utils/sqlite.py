"""SQLite plumbing shared by the SQLite broker and result store: URLs, connections, errors."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from celeriac.exceptions import ImproperlyConfigured, OperationalError

__all__ = ["SQLiteDatabase", "sqlite_path"]

#: Seconds a connection waits for another writer before giving up (``busy_timeout``).
DEFAULT_BUSY_TIMEOUT = 30.0


def sqlite_path(url: str) -> str:
    """Return the database file named by a SQLite URL.

    ``sqlite:///relative.db`` names a file relative to the working directory and
    ``sqlite:////abs/path.db`` an absolute one (SQLAlchemy's convention); any ``xxx+``
    prefix (``sqla+sqlite``, ``db+sqlite``) is accepted.

    Raises:
        ImproperlyConfigured: the URL names no file (an in-memory database cannot be
            shared between connections, so it cannot serve as a broker or result store).
    """
    parts = urlsplit(url)
    if not parts.scheme.rpartition("+")[2] == "sqlite":
        raise ImproperlyConfigured(f"not a SQLite URL: {url!r}")
    path = unquote(parts.path)
    if parts.netloc:
        # sqlite://relative.db (two slashes): tolerate it as a relative path.
        path = parts.netloc + path
    elif path.startswith("/"):
        path = path[1:]
    if not path or path == ":memory:":
        raise ImproperlyConfigured(
            f"{url!r} names no database file; use sqlite:///name.db (relative) "
            "or sqlite:////absolute/path.db"
        )
    return path


@dataclass(slots=True, eq=False)
class _Connection:
    """One sqlite3 connection and the lock held while a thread uses it."""

    conn: sqlite3.Connection
    pid: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    closed: bool = False
    #: fd of the file's write-lock file (an flock serializes writers; see ``write``)
    write_lock_fd: int = -1

    def close(self) -> None:
        """Close the connection (caller holds ``lock``); a user that raced us retries."""
        self.closed = True
        self.conn.close()
        if self.write_lock_fd >= 0:
            os.close(self.write_lock_fd)
            self.write_lock_fd = -1


class SQLiteDatabase:
    """A SQLite file opened in WAL mode, with one connection per (thread, process).

    Every thread gets its own connection, created on first use, and a process never
    touches a connection it inherited through ``fork``: before a fork this process's
    connections are closed (waiting for any operation in flight), so a child starts
    with none and opens its own. Errors from :mod:`sqlite3` are raised as ``error``,
    with a message naming the file.

    Args:
        path: the database file.
        error: the exception class ``sqlite3`` errors are mapped to.
        schema: ``CREATE ... IF NOT EXISTS`` statements run once per process, in one
            write transaction (safe when several processes start at once).
        busy_timeout: seconds to wait for another writer's lock.
    """

    def __init__(
        self,
        path: str,
        *,
        error: type[OperationalError] = OperationalError,
        schema: Sequence[str] = (),
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = path
        self.error = error
        self.busy_timeout = busy_timeout
        self._schema = tuple(schema)
        self._schema_pid = 0
        self._lock = threading.Lock()
        self._connections: dict[tuple[int, int], _Connection] = {}
        self._inherited: list[_Connection] = []
        ref = weakref.ref(self)

        def before() -> None:
            db = ref()
            if db is not None:
                db._before_fork()

        def after_in_parent() -> None:
            db = ref()
            if db is not None:
                db._lock.release()

        def after_in_child() -> None:
            db = ref()
            if db is not None:
                db._lock = threading.Lock()

        os.register_at_fork(
            before=before, after_in_parent=after_in_parent, after_in_child=after_in_child
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    # -- connections -----------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (persistent); retry while another process holds it."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if str(mode).lower() == "wal":
                return
            raise sqlite3.OperationalError(f"cannot enable WAL mode (journal_mode is {mode})")

    def _connection(self) -> _Connection:
        pid = os.getpid()
        key = (pid, threading.get_ident())
        entry = self._connections.get(key)
        if entry is not None:
            return entry
        conn = self._open()
        entry = _Connection(conn, pid, write_lock_fd=self._open_write_lock())
        with self._lock:
            self._prune(pid)
            self._connections[key] = entry
        if self._schema_pid != pid and self._schema:
            with entry.lock:
                self._create_schema(conn)
            self._schema_pid = pid
        return entry

    def _forget(self, entry: _Connection) -> None:
        key = (entry.pid, threading.get_ident())
        with self._lock:
            if self._connections.get(key) is entry:
                del self._connections[key]

    def _prune(self, pid: int) -> None:
        """Close connections of this process whose thread has ended (caller holds _lock)."""
        alive = {thread.ident for thread in threading.enumerate()}
        for key, entry in list(self._connections.items()):
            if key[0] == pid and key[1] not in alive and entry.lock.acquire(blocking=False):
                del self._connections[key]
                entry.close()
                entry.lock.release()

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in self._schema:
                conn.execute(statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _before_fork(self) -> None:
        """Close this process's connections so a forked child inherits none."""
        self._lock.acquire()
        pid = os.getpid()
        for key, entry in list(self._connections.items()):
            if key[0] == pid:
                with entry.lock:
                    entry.close()
            else:
                # Inherited from another process: never closed here, as closing could
                # disturb the process that owns it (kept referenced so GC won't either).
                self._inherited.append(entry)
            del self._connections[key]

    def _open_write_lock(self) -> int:
        try:
            return os.open(f"{self.path}-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return -1  # e.g. a read-only directory: SQLite's own busy handler still serializes

    @contextmanager
    def _entry(self) -> Iterator[_Connection]:
        try:
            while True:
                entry = self._connection()
                with entry.lock:
                    if not entry.closed:
                        yield entry
                        return
                # Closed by close() or before a fork since we looked it up: open another.
                self._forget(entry)
        except sqlite3.Error as exc:
            raise self.error(f"SQLite error on {self.path!r}: {exc}") from exc

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, in autocommit mode, with errors mapped to ``error``."""
        with self._entry() as entry:
            yield entry.conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on error).

        Writers of all processes first take an ``flock`` on ``<file>-lock``: a writer
        that has to wait then sleeps in the kernel and wakes the moment the lock is
        free, instead of in SQLite's busy handler, which polls with sleeps of up to
        25 ms and made two busy workers spend much of their time waiting.
        """
        with self._entry() as entry:
            conn = entry.conn
            fd = entry.write_lock_fd
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def data_version(self) -> int:
        """``PRAGMA data_version`` of this thread's connection: changes when another commits."""
        with self.connection() as conn:
            row = conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close_thread(self) -> None:
        """Close the calling thread's connection (it is reopened on next use)."""
        entry = self._connections.pop((os.getpid(), threading.get_ident()), None)
        if entry is not None:
            with entry.lock:
                entry.close()

    def close(self) -> None:
        """Close every connection this process opened (each once no thread is using it)."""
        pid = os.getpid()
        with self._lock:
            entries = list(self._connections.items())
            self._connections.clear()
        for key, entry in entries:
            if key[0] == pid:
                with entry.lock:
                    entry.close()
            else:
                self._inherited.append(entry)
