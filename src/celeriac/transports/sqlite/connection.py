"""The SQLite transport's core: the file, its loop thread, lease ownership and wake-ups.

Each thread of each process has its own connection to the file (WAL mode), and writes
take the lock up front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` seconds for
other writers. Producers publish on their own thread. Everything a worker's event loop
asks for runs on one thread per transport (:class:`~.thread.SQLiteThread`), so the loop
never waits on a SQLite lock. The other modules of this package extend
:class:`SQLiteConnection` with one concept each.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from celeriac.exceptions import BrokerError
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.sqlite.options import SQLiteOptions
from celeriac.transports.sqlite.schema import MESSAGES_SCHEMA
from celeriac.transports.sqlite.thread import SQLiteThread
from celeriac.utils.doorbell import Doorbell, doorbell_dir
from celeriac.utils.sqlite import SQLiteDatabase

__all__ = ["FAST_POLL", "SQLiteConnection", "wake"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: First pause between two looks at an idle queue right after activity, in seconds.
FAST_POLL = 0.001


def wake(future: asyncio.Future[bool], published: bool) -> None:
    """Resolve a waiting fetch's future (on its loop): True when something was published."""
    if not future.done():
        future.set_result(published)


class SQLiteConnection(Transport):
    """A SQLite file as a broker: what every part of the transport shares.

    Attributes:
        config: the options, parsed once.
        path: the database file.
    """

    schemes = ("sqlite", "sqla+sqlite")
    crosses_processes = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self.config = SQLiteOptions.parse(url, self.options)
        self.path = self.config.path
        self._db = SQLiteDatabase(
            self.path,
            error=BrokerError,
            schema=MESSAGES_SCHEMA,
            busy_timeout=self.config.busy_timeout,
        )
        self._token = uuid.uuid4().hex[:12]
        self._owner_pid = 0
        self._owner = ""
        self._thread: SQLiteThread | None = None
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = set()
        self._waiters_lock = threading.Lock()
        #: bumped by every publish or give-back through this transport (under _waiters_lock)
        self._notified = 0
        self._poll_delay = FAST_POLL
        self._data_version = -1
        self._last_recovery = 0.0
        self._bell_dir = doorbell_dir(self.path)
        self._bell: Doorbell | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    @property
    def consumer_id(self) -> str:
        """This transport's lease owner name in this process: ``host:pid:token``."""
        pid = os.getpid()
        if pid != self._owner_pid:
            self._owner = f"{socket.gethostname()}:{pid}:{self._token}"
            self._owner_pid = pid
        return self._owner

    # -- the loop's thread -------------------------------------------------------------
    async def _run(self, func: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run a blocking SQLite call on this transport's own thread."""
        return await asyncio.wrap_future(self._sqlite_thread().submit(func, *args))

    def _sqlite_thread(self) -> SQLiteThread:
        thread = self._thread
        if thread is None or thread.pid != os.getpid():
            # After a fork the parent's thread is gone: start a new one.
            thread = self._thread = SQLiteThread()
            weakref.finalize(self, thread.stop)
        return thread

    def _notify(self) -> None:
        """Wake this transport's waiting fetches (from any thread)."""
        with self._waiters_lock:
            self._notified += 1
            waiters = list(self._waiters)
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(wake, future, True)
            except RuntimeError:  # that loop is closed
                pass

    def close(self) -> None:
        """Close this process's connections and stop this transport's thread."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.pid == os.getpid():
            thread.stop()
        self._db.close()
