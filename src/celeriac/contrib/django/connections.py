"""Django's database connections around tasks, as Django handles them around requests.

Django opens a connection per thread on first use and, at the end of each request,
closes it when it is unusable or older than ``CONN_MAX_AGE`` (0 by default: at once).
A worker has no requests, so :class:`DjangoConnections` does the same around each task
body, in the thread that runs it: before the task (a connection the database server
closed during an idle night is dropped, not used) and after it. A persistent connection
(``CONN_MAX_AGE`` > 0 or None) without ``CONN_HEALTH_CHECKS`` is checked with one query
before each task, so a task never meets "server closed the connection".

Connections never cross a fork: the worker's main process closes its connections
before it forks the pool, and each child drops whatever it inherited without talking
to the server (that would end the parent's session too).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any

from celeriac.middleware.base import Middleware
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.execution.applike import TaskLike
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Context

__all__ = [
    "DjangoConnections",
    "close_all",
    "close_old_connections",
    "drop_inherited",
    "in_task",
]

logger = own_logger(__name__)

_state = threading.local()


def in_task() -> bool:
    """True while a task body runs in this thread (its connection is the task's)."""
    return bool(getattr(_state, "depth", 0))


def _initialized() -> list[Any]:
    """This thread's connections that were opened at least once."""
    from django.db import connections

    try:
        return list(connections.all(initialized_only=True))
    except TypeError:  # Django < 4.1
        return list(connections.all())


def close_old_connections() -> None:
    """Close this thread's connections that are unusable or past ``CONN_MAX_AGE``.

    A persistent connection without Django's own health checks is tested here (one
    ``SELECT 1``), so one the server ended is replaced instead of failing the next query.
    """
    from django.db import DatabaseError, InterfaceError

    for conn in _initialized():
        if conn.in_atomic_block:
            continue  # never under a transaction someone still holds
        try:
            conn.close_if_unusable_or_obsolete()
            unchecked = not conn.settings_dict.get("CONN_HEALTH_CHECKS")
            if conn.connection is not None and unchecked and not conn.is_usable():
                logger.info("Database connection %r was closed by the server", conn.alias)
                conn.close()
        except (InterfaceError, DatabaseError) as exc:
            logger.info("Dropping database connection %r: %r", conn.alias, exc)
            _forget(conn)


def close_all() -> None:
    """Close all of this thread's connections (before a fork, at shutdown)."""
    from django.db import DatabaseError, InterfaceError

    for conn in _initialized():
        try:
            conn.close()
        except (InterfaceError, DatabaseError) as exc:
            logger.debug("Closing database connection %r: %r", conn.alias, exc)
            _forget(conn)


def drop_inherited() -> None:
    """In a forked child: forget the connections the parent had open, closing only this
    process's copy of their sockets (no goodbye to the server: the session is the
    parent's)."""
    for conn in _initialized():
        raw = conn.connection
        if raw is None:
            continue
        try:
            fileno = raw.fileno() if hasattr(raw, "fileno") else None
        except Exception:  # already closed
            fileno = None
        if isinstance(fileno, int):
            try:
                os.close(fileno)
            except OSError:
                pass
        _forget(conn)


def _claim_thread() -> None:
    """Drop what this thread inherited across a fork, the first time it runs a task in
    this process (a prefork child runs sync tasks on the thread that forked it, whose
    connections are the parent's)."""
    # Django keeps a thread's connections apart while an event loop runs on it
    # (asgiref's Local): each of the two stores is claimed on its own.
    key = "pid_async" if _loop_running() else "pid"
    pid = os.getpid()
    seen = getattr(_state, key, None)
    if seen != pid:
        if seen is not None or pid != _MAIN_PID:
            drop_inherited()
        setattr(_state, key, pid)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


#: The process that imported this module (connections opened here are its own).
_MAIN_PID = os.getpid()


def _forget(conn: Any) -> None:
    """Make Django open a fresh connection next time, whatever state this one is in."""
    try:
        conn.close()
    except Exception:
        pass
    conn.connection = None
    conn.closed_in_transaction = False
    conn.in_atomic_block = False
    conn.needs_rollback = False


def _close_caches() -> None:
    try:
        from django.core.cache import close_caches
    except ImportError:
        return
    try:
        close_caches()
    except Exception as exc:
        logger.debug("Closing Django's caches: %r", exc)


class DjangoConnections(Middleware):
    """Django's request handling of connections, around each task body."""

    def on_worker_start(self, worker: Any) -> None:
        """Drop connections inherited from the parent (a prefork child starts here);
        each task thread does the same before its first task."""
        _claim_thread()

    def on_worker_stop(self, worker: Any) -> None:
        """Close this thread's connections when the worker stops: those of its event loop
        and those sync task bodies used on it (Django keeps them apart)."""
        close_all()
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            close_all()
            _close_caches()
        finally:
            asyncio.events._set_running_loop(loop)

    def before_call(self, task: TaskLike, request: Context) -> None:
        """Drop unusable or old connections, as Django does when a request starts."""
        _state.depth = getattr(_state, "depth", 0) + 1
        _claim_thread()
        if not request.is_eager:
            close_old_connections()

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        """Close what ``CONN_MAX_AGE`` says to close, as Django does when a request ends."""
        _state.depth = max(0, getattr(_state, "depth", 1) - 1)
        if not request.is_eager:
            close_old_connections()
            _close_caches()
