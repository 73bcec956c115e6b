"""The thread that runs a SQLite transport's calls for its event loop, and watches the file."""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from celeriac.exceptions import BrokerError

__all__ = ["SQLiteThread"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: A job: runs one call and resolves its future. ``None`` stops the thread.
_Job = Callable[[], None]


def _kick() -> None:
    """The job that only wakes the thread (to pick up a new watch)."""


class SQLiteThread:
    """The one thread that runs a transport's SQLite calls for its event loop.

    Besides running jobs in order it can *watch*: while nothing else is queued it calls
    a check function at the times that function asks for. A waiting fetch uses this to
    poll ``PRAGMA data_version`` without waking the event loop, which would cost more
    than the poll itself.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._check: Callable[[], float | None] | None = None
        self._due = 0.0
        self._stopped = False
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._main, name="celeriac-sqlite", daemon=True)
        self._thread.start()

    def submit(self, func: Callable[[*Ts], T], *args: *Ts) -> concurrent.futures.Future[T]:
        """Run ``func(*args)`` on the thread; return its future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func(*args))
                except BaseException as exc:
                    future.set_exception(exc)

        with self._lock:
            if self._stopped:
                raise BrokerError("this SQLite transport's thread was stopped (transport closed)")
            self._jobs.put(job)
        return future

    def watch(self, check: Callable[[], float | None], delay: float) -> None:
        """Call ``check`` after ``delay`` seconds, then again after each delay it returns."""
        with self._lock:
            self._check = check
            self._due = time.monotonic() + delay
        self._jobs.put(_kick)

    def unwatch(self, check: Callable[[], float | None]) -> None:
        """Stop calling ``check`` (no-op if another check replaced it)."""
        with self._lock:
            if self._check is check:
                self._check = None

    def stop(self) -> None:
        """Finish the jobs already queued, then end the thread; later submits raise."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._jobs.put(None)

    def _main(self) -> None:
        while True:
            with self._lock:
                check, due = self._check, self._due
            timeout = None if check is None else max(0.0, due - time.monotonic())
            try:
                job = self._jobs.get(timeout=timeout)
            except queue.Empty:
                self._tick(check)
                continue
            if job is None:
                return
            job()

    def _tick(self, check: Callable[[], float | None] | None) -> None:
        with self._lock:
            if check is None or self._check is not check:
                return
        try:
            delay = check()
        except Exception:
            delay = None
        with self._lock:
            if self._check is check:
                if delay is None:
                    self._check = None
                else:
                    self._due = time.monotonic() + delay
