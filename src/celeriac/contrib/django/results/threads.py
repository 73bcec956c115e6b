"""Where the results backends run their queries: a small thread pool of their own.

Django forbids its ORM on a thread where an event loop runs, the worker calls the
backend from its loop and from helper threads nobody closes connections for, and a web
request should not have its connection closed under it: so queries run on this pool,
whose threads are nobody else's. Their connections stay open between queries, are
checked with ``is_usable()`` after an idle minute, and a query that meets a connection
the server ended is retried once on a new one. Two cases run on the caller's thread: a
task body (the worker's middleware looks after its connection) and an open transaction
(the store belongs to it, as with django-celery-results).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["in_loop_thread", "run", "run_async"]

T = TypeVar("T")

#: Seconds a pool thread's connection may idle before it is checked before use.
IDLE_CHECK = 60.0

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_local = threading.local()


def in_loop_thread() -> bool:
    """True when an event loop runs on this thread (Django's ORM refuses to run here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _executor() -> ThreadPoolExecutor:
    """This process's pool (a fork gets a new one: threads do not cross a fork)."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (
                os.getpid(),
                ThreadPoolExecutor(max_workers=4, thread_name_prefix="celeriac-django-db"),
            )
        return _pool[1]


def _on_pool_thread(fun: Callable[[], T]) -> T:
    """Run ``fun`` on a pool thread, its connections checked when they idled long."""
    now = time.monotonic()
    if now - getattr(_local, "last", now) > IDLE_CHECK:
        _check_connections()
    _local.last = now
    from django.db import InterfaceError, OperationalError

    try:
        return fun()
    except (InterfaceError, OperationalError):
        # A connection the server ended since the last look: retry once on a new one.
        if not _check_connections():
            raise
        return fun()
    finally:
        _local.last = time.monotonic()


def _check_connections() -> bool:
    """Close this thread's unusable connections; True when there was one."""
    from django.db import connections

    closed = False
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.is_usable():
            conn.close()
            closed = True
    return closed


def _here() -> bool:
    """True when this thread's own connection should run the query: a task body (the
    worker's middleware looks after its connection) or an open transaction (the store
    belongs to it, as with django-celery-results)."""
    if in_loop_thread():
        return False
    from django.db import connection

    from celeriac.contrib.django.connections import in_task

    return in_task() or bool(connection.in_atomic_block)


def run(fun: Callable[[], T]) -> T:
    """Run a query function on this thread when it is a task's or in a transaction,
    else on the pool (a loop thread, a thread nobody closes connections for)."""
    if _here():
        return fun()
    return _executor().submit(_on_pool_thread, fun).result()


async def run_async(fun: Callable[[], T]) -> T:
    """Run a query function on the pool without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), _on_pool_thread, fun)
