"""The embedded broker (``sqlite:///file.db``): a durable single-machine queue in a SQLite file."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from celeriac.exceptions import BrokerError, DecodeError
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports import sqlite_ratelimit
from celeriac.transports.base import DeadLetter, Delivery, Transport, TransportOptions
from celeriac.transports.sqlite_fanout import SQLiteFanout
from celeriac.transports.sqlite_lock import SQLiteLockMixin
from celeriac.utils.doorbell import Doorbell, doorbell_dir, ring
from celeriac.utils.sqlite import DEFAULT_BUSY_TIMEOUT, SQLiteDatabase, sqlite_path

__all__ = ["SQLiteTransport"]

T = TypeVar("T")

# A message is ready when ``not_before = 0``. A future ETA or a lease sets ``not_before``
# to the time it may be handed out again; each fetch first turns due rows back to 0
# (which is how expired leases come back), so the hot path only reads the partial
# index of ready rows, in (queue, priority DESC, id) order.
SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS celeriac_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        lease_owner TEXT,
        leased_until REAL,
        delivery_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        payload BLOB NOT NULL
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_ready
        ON celeriac_messages (queue, priority DESC, id) WHERE not_before = 0
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_waiting
        ON celeriac_messages (not_before) WHERE not_before > 0
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_owner
        ON celeriac_messages (lease_owner) WHERE lease_owner IS NOT NULL
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        task_id TEXT,
        task_name TEXT,
        delivery_count INTEGER NOT NULL DEFAULT 0
    )
    """,
)

_INSERT = (
    "INSERT INTO celeriac_messages (queue, priority, not_before, created_at, payload)"
    " VALUES (?, ?, ?, ?, ?)"
)
_RELEASE_DUE = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL"
    " WHERE not_before > 0 AND not_before <= ?"
)
_SELECT_READY = (
    "SELECT id, delivery_count, payload FROM celeriac_messages"
    " WHERE queue = ? AND not_before = 0 ORDER BY priority DESC, id LIMIT ?"
)
_ANY_READY = "SELECT 1 FROM celeriac_messages WHERE queue = ? AND not_before = 0 LIMIT 1"
_ANY_DUE = "SELECT 1 FROM celeriac_messages WHERE not_before > 0 AND not_before <= ? LIMIT 1"
_NEXT_DUE = "SELECT MIN(not_before) FROM celeriac_messages WHERE not_before > 0"
_LEASE = (
    "UPDATE celeriac_messages SET not_before = ?, leased_until = ?, lease_owner = ?,"
    " delivery_count = delivery_count + 1 WHERE id = ?"
)
_RENEW = (
    "UPDATE celeriac_messages SET not_before = ?, leased_until = ? WHERE id = ? AND lease_owner = ?"
)
_REQUEUE = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL,"
    " delivery_count = MAX(delivery_count - ?, 0) WHERE id = ? AND lease_owner = ?"
)
_RELEASE_OWNER = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL"
    " WHERE lease_owner = ?"
)
_OWNED = "SELECT id FROM celeriac_messages WHERE lease_owner = ?"
_UNCOUNT = "UPDATE celeriac_messages SET delivery_count = MAX(delivery_count - 1, 0) WHERE id = ?"
_OWNERS = "SELECT DISTINCT lease_owner FROM celeriac_messages WHERE lease_owner IS NOT NULL"
_DELETE = "DELETE FROM celeriac_messages WHERE id = ?"
_INSERT_DEAD = (
    "INSERT INTO celeriac_dead_letters"
    " (queue, reason, payload, created_at, task_id, task_name, delivery_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)

#: First pause between two looks at an idle queue right after activity, in seconds.
FAST_POLL = 0.001
#: Factor the pause grows by per idle look, up to ``polling_interval``.
POLL_BACKOFF = 1.25
#: Seconds between two looks for leases held by dead processes of this host.
RECOVERY_INTERVAL = 1.0
#: Longest idle pause while a doorbell is bound: publishers ring it, so the poll only
#: catches what no bell announced (dead leases, writers that cannot ring).
DOORBELL_POLL = 0.25


def _pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) S ...": the state follows the last ')'.
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_is_dead(owner: str) -> bool:
    """True when a lease owner (``host:pid:token``) is a process of this host that is gone."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _token = parts
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    return not _pid_alive(pid)


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return bytes(payload)


def _decode(row_id: int, queue: str, count: int, payload: bytes) -> Delivery:
    try:
        message = loads_envelope(payload)
    except (DecodeError, ValueError, TypeError) as exc:
        return Delivery(None, queue, str(row_id), count, raw=payload, error=str(exc))
    return Delivery(message, queue, str(row_id), count)


def _task_of(raw: bytes, message: Message | None) -> tuple[str | None, str | None]:
    """The task id and name in a message's headers, when they can be read."""
    if message is None:
        try:
            message = loads_envelope(raw)
        except (DecodeError, ValueError, TypeError):
            return None, None
    task_id, task_name = message.headers.get("id"), message.headers.get("task")
    return (
        str(task_id) if task_id is not None else None,
        str(task_name) if task_name is not None else None,
    )


def _wake(future: asyncio.Future[bool], published: bool) -> None:
    if not future.done():
        future.set_result(published)


_STOP = object()
_KICK = object()


class _SQLiteThread:
    """The one thread that runs a transport's SQLite calls for its event loop.

    Besides running jobs in order it can *watch*: while nothing else is queued it calls
    a check function at the times that function asks for. A waiting fetch uses this to
    poll ``PRAGMA data_version`` without waking the event loop, which would cost more
    than the poll itself.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._check: Callable[[], float | None] | None = None
        self._due = 0.0
        self._stopped = False
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._main, name="celeriac-sqlite", daemon=True)
        self._thread.start()

    def submit(self, func: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``func(*args)`` on the thread; return its future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._stopped:
                raise BrokerError("this SQLite transport's thread was stopped (transport closed)")
            self._jobs.put((future, func, args))
        return future

    def watch(self, check: Callable[[], float | None], delay: float) -> None:
        """Call ``check`` after ``delay`` seconds, then again after each delay it returns."""
        with self._lock:
            self._check = check
            self._due = time.monotonic() + delay
        self._jobs.put(_KICK)

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
                self._jobs.put(_STOP)

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
            if job is _STOP:
                return
            if job is not _KICK:
                future, func, args = job
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(func(*args))
                    except BaseException as exc:
                        future.set_exception(exc)

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


class SQLiteTransport(SQLiteFanout, SQLiteLockMixin, Transport):
    """A durable broker in one SQLite file, shared by producers and workers of one machine.

    The file is opened in WAL mode; each thread of each process has its own connection,
    and writes take the lock up front (``BEGIN IMMEDIATE``) and wait up to
    ``busy_timeout`` seconds (transport option, default 30) for other writers.
    Producers publish on their own thread. Everything a worker's event loop asks for
    runs on one thread per transport, so the loop never waits on a SQLite lock.

    An idle :meth:`fetch` looks at ``PRAGMA data_version`` (which changes when another
    connection commits): every millisecond right after activity, backing off to
    ``polling_interval``; a publish through this same transport wakes it at once.
    About once a second it also gives back the leases of this host's dead processes,
    so the messages of a killed worker run again within a second or two.
    """

    schemes = ("sqlite", "sqla+sqlite")
    crosses_processes = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self.path = sqlite_path(url)
        busy_timeout = float(self.options.extra.get("busy_timeout", DEFAULT_BUSY_TIMEOUT))
        self._db = SQLiteDatabase(
            self.path, error=BrokerError, schema=SCHEMA, busy_timeout=busy_timeout
        )
        self._token = uuid.uuid4().hex[:12]
        self._owner_pid = 0
        self._owner = ""
        self._thread: _SQLiteThread | None = None
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

    # -- plumbing --------------------------------------------------------------------
    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """Run a blocking SQLite call on this transport's own thread."""
        return await asyncio.wrap_future(self._sqlite_thread().submit(func, *args))

    def _sqlite_thread(self) -> _SQLiteThread:
        thread = self._thread
        if thread is None or thread.pid != os.getpid():
            # After a fork the parent's thread is gone: start a new one.
            thread = self._thread = _SQLiteThread()
            weakref.finalize(self, thread.stop)
        return thread

    def _notify(self) -> None:
        """Wake this transport's waiting fetches (from any thread)."""
        with self._waiters_lock:
            self._notified += 1
            waiters = list(self._waiters)
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_wake, future, True)
            except RuntimeError:  # that loop is closed
                pass

    # -- producer side ---------------------------------------------------------------
    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put a message on a queue (one transaction; see :meth:`Transport.publish`)."""
        self.publish_raw(dumps_envelope(message), queue, priority=priority, eta=eta)

    def publish_raw(
        self, raw: bytes, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put already-encoded envelope bytes on a queue (stored verbatim)."""
        now = time.time()
        not_before = eta if eta is not None and eta > now else 0.0
        row = (queue, max(0, min(9, int(priority))), not_before, now, raw)
        with self._db.write() as conn:
            conn.execute(_INSERT, row)
        self._notify()
        ring(self._bell_dir)

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish`, run on this transport's thread."""
        raw = dumps_envelope(message)
        await self._run(self._publish_positional, raw, queue, priority, eta)

    def _publish_positional(self, raw: bytes, queue: str, priority: int, eta: float | None) -> None:
        self.publish_raw(raw, queue, priority=priority, eta=eta)

    # -- consumer side ---------------------------------------------------------------
    async def open(self) -> None:
        """Create the schema if missing, start this transport's thread and bind its doorbell.

        Publishers in any process ring the doorbells next to the file after each commit,
        so an idle fetch wakes at once without polling the file.
        """
        await self._run(self._db.data_version)
        if self._bell is None:
            try:
                self._bell = Doorbell(self._bell_dir, self._notify)
            except OSError as exc:  # e.g. no writable temp dir: fall back to polling
                self._bell = None
                logging.getLogger(__name__).warning(
                    "SQLite broker %s: no doorbell (%s); idle workers poll instead", self.path, exc
                )

    async def aclose(self) -> None:
        """Unbind the doorbell, close the thread's connection and stop the thread."""
        bell, self._bell = self._bell, None
        if bell is not None:
            bell.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread.pid == os.getpid():
            await asyncio.wrap_future(thread.submit(self._db.close_thread))
            thread.stop()

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` ready messages (see :meth:`Transport.fetch`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queues = tuple(queues)
        while True:
            seen = self._notified
            deliveries, next_due = await self._lease_safely(queues, limit)
            if deliveries:
                self._poll_delay = FAST_POLL
                return deliveries
            if not await self._wait(loop, deadline, next_due, seen):
                return []

    async def _lease_safely(
        self, queues: Sequence[str], limit: int
    ) -> tuple[list[Delivery], float | None]:
        """Run :meth:`_lease`; if the fetch is cancelled meanwhile, give back what it took."""
        thread = self._sqlite_thread()
        job = thread.submit(self._lease, queues, limit)
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            if not job.cancel():
                job.add_done_callback(self._give_back)
            raise

    def _give_back(
        self, job: concurrent.futures.Future[tuple[list[Delivery], float | None]]
    ) -> None:
        """Requeue (uncounted) the deliveries of a lease nobody is waiting for any more."""
        if job.cancelled() or job.exception() is not None:
            return
        deliveries = job.result()[0]
        if deliveries:
            owner = self.consumer_id
            params = [(1, int(d.tag), owner) for d in deliveries]
            self._sqlite_thread().submit(self._requeue, params).add_done_callback(
                lambda _: self._notify()
            )

    async def _wait(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        next_due: float | None,
        seen: int,
    ) -> bool:
        """Wait until a look is worth it (True) or the deadline passes (False).

        A publish through this transport wakes the wait at once; the transport's thread
        polls ``PRAGMA data_version`` for commits made elsewhere; a timer on the loop
        covers the deadline and the next ETA or lease expiry.
        """
        pause = deadline - loop.time()
        if next_due is not None:
            pause = min(pause, next_due - time.time())
        if pause <= 0:
            return loop.time() < deadline
        future: asyncio.Future[bool] = loop.create_future()
        waiter = (loop, future)
        with self._waiters_lock:
            if self._notified != seen:
                self._poll_delay = FAST_POLL
                return True
            self._waiters.add(waiter)
        ceiling = max(self.options.polling_interval, FAST_POLL)
        if self._bell is not None:
            ceiling = max(ceiling, DOORBELL_POLL)

        def check() -> float | None:
            if future.done():
                return None
            try:
                changed = self._poll()
            except BrokerError:  # e.g. locked for longer than busy_timeout: look again later
                changed = False
            if changed:
                loop.call_soon_threadsafe(_wake, future, True)
                return None
            self._poll_delay = min(self._poll_delay * POLL_BACKOFF, ceiling)
            return self._poll_delay

        thread = self._sqlite_thread()
        handle = loop.call_later(pause, _wake, future, False)
        thread.watch(check, self._poll_delay)
        try:
            woken = await future
        finally:
            thread.unwatch(check)
            handle.cancel()
            with self._waiters_lock:
                self._waiters.discard(waiter)
        if woken:
            if self._notified != seen:
                self._poll_delay = FAST_POLL
            return True
        return loop.time() < deadline

    def _poll(self) -> bool:
        """True when another connection committed since the last look, or leases came back."""
        version = self._db.data_version()
        changed = version != self._data_version
        self._data_version = version
        return self._recover_dead() > 0 or changed

    def _recover_dead(self) -> int:
        """At most once per RECOVERY_INTERVAL, give back the leases of this host's dead pids."""
        now = time.monotonic()
        if now - self._last_recovery < RECOVERY_INTERVAL:
            return 0
        self._last_recovery = now
        with self._db.connection() as conn:
            owners = [row[0] for row in conn.execute(_OWNERS)]
        released = 0
        for owner in owners:
            if _owner_is_dead(owner):
                released += self._release_owner(owner)
        return released

    def _release_owner(self, owner: str, running: Collection[str] | None = None) -> int:
        with self._db.write() as conn:
            if running is not None:
                started = {int(tag) for tag in running}
                rows = conn.execute(_OWNED, (owner,)).fetchall()
                conn.executemany(_UNCOUNT, [(row[0],) for row in rows if row[0] not in started])
            return conn.execute(_RELEASE_OWNER, (owner,)).rowcount

    def _has_work(self, queues: Sequence[str], now: float) -> bool:
        """A cheap read: is anything ready in ``queues`` or due anywhere?"""
        with self._db.connection() as conn:
            if conn.execute(_ANY_DUE, (now,)).fetchone() is not None:
                return True
            return any(conn.execute(_ANY_READY, (queue,)).fetchone() for queue in queues)

    def _lease(self, queues: Sequence[str], limit: int) -> tuple[list[Delivery], float | None]:
        """Lease ready rows in one write transaction; return them and the next due time."""
        self._recover_dead()
        now = time.time()
        rows: list[tuple[int, str, int, bytes]] = []
        if limit > 0 and self._has_work(queues, now):
            with self._db.write() as conn:
                conn.execute(_RELEASE_DUE, (now,))
                for queue in queues:
                    if len(rows) >= limit:
                        break
                    self._lease_queue(conn, queue, limit - len(rows), now, rows)
        with self._db.connection() as conn:
            self._data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            next_due = None if rows else conn.execute(_NEXT_DUE).fetchone()[0]
        return [_decode(*row) for row in rows], next_due

    def _lease_queue(
        self,
        conn: sqlite3.Connection,
        queue: str,
        wanted: int,
        now: float,
        rows: list[tuple[int, str, int, bytes]],
    ) -> None:
        """Lease up to ``wanted`` rows of one queue, dead-lettering the over-delivered ones."""
        until = now + self.options.visibility_timeout
        owner = self.consumer_id
        max_deliveries = self.options.max_deliveries
        while wanted > 0:
            batch = conn.execute(_SELECT_READY, (queue, wanted)).fetchall()
            leased = []
            for row_id, count, payload in batch:
                raw = _as_bytes(payload)
                if 0 < max_deliveries <= count:
                    reason = (
                        f"delivered {count} times without an ack "
                        f"(task_max_deliveries={max_deliveries})"
                    )
                    self._insert_dead(conn, queue, reason, raw, None, count)
                    conn.execute(_DELETE, (row_id,))
                    continue
                leased.append((until, until, owner, row_id))
                rows.append((row_id, queue, count + 1, raw))
            conn.executemany(_LEASE, leased)
            if len(batch) < wanted:
                return  # the queue has no more ready rows
            wanted -= len(leased)

    @staticmethod
    def _insert_dead(
        conn: sqlite3.Connection,
        queue: str,
        reason: str,
        raw: bytes,
        message: Message | None,
        count: int,
    ) -> None:
        task_id, task_name = _task_of(raw, message)
        conn.execute(_INSERT_DEAD, (queue, reason, raw, time.time(), task_id, task_name, count))

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove settled messages for good (one transaction)."""
        if deliveries:
            await self._run(self._ack, [(int(d.tag),) for d in deliveries])

    def can_settle_with(self, backend: object) -> bool:
        """True when ``backend`` keeps its results in this file (see :meth:`ack_with_results`)."""
        same = getattr(backend, "path", None) == self.path
        return same and callable(getattr(backend, "write_rows", None))

    async def ack_with_results(
        self, deliveries: Sequence[Delivery], items: Sequence[tuple[str, Any]], backend: Any
    ) -> None:
        """Store results through ``backend`` and ack messages in ONE transaction.

        Results and messages share the file, so a crash can never keep one without the
        other, and a settled task costs one commit instead of two.
        """
        if items:
            await self._run(backend.ensure_schema)
        await self._run(self._ack_with_results, [(int(d.tag),) for d in deliveries], items, backend)
        if items:
            backend._notify()

    def _ack_with_results(
        self, ids: list[tuple[int]], items: Sequence[tuple[str, Any]], backend: Any
    ) -> None:
        with self._db.write() as conn:
            if items:
                backend.write_rows(conn, items)
            if ids:
                conn.executemany(_DELETE, ids)

    def _ack(self, ids: list[tuple[int]]) -> None:
        with self._db.write() as conn:
            conn.executemany(_DELETE, ids)

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Make leased messages available again now (one transaction)."""
        if not deliveries:
            return
        owner = self.consumer_id
        uncount = 0 if count else 1
        await self._run(self._requeue, [(uncount, int(d.tag), owner) for d in deliveries])
        self._notify()
        ring(self._bell_dir)

    def _requeue(self, params: list[tuple[int, int, str]]) -> None:
        with self._db.write() as conn:
            conn.executemany(_REQUEUE, params)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in the dead-letter table with a reason, and drop its lease."""
        await self._run(self._dead_letter, delivery, reason)

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        row_id = int(delivery.tag)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT payload, delivery_count FROM celeriac_messages WHERE id = ?", (row_id,)
            ).fetchone()
            if row is not None:
                raw, count = _as_bytes(row[0]), int(row[1])
                conn.execute(_DELETE, (row_id,))
            else:
                count = delivery.delivery_count
                if delivery.raw is not None:
                    raw = delivery.raw
                elif delivery.message is not None:
                    raw = dumps_envelope(delivery.message)
                else:
                    raw = b""
            self._insert_dead(conn, delivery.queue, reason, raw, delivery.message, count)

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Extend the leases this consumer holds by ``visibility_timeout`` (one transaction)."""
        if not deliveries:
            return
        await self._run(self._renew, self._renewals(deliveries))

    def _renewals(self, deliveries: Sequence[Delivery]) -> list[tuple[float, float, int, str]]:
        """The parameters of ``_RENEW``: the new lease end for each of our deliveries."""
        until = time.time() + self.options.visibility_timeout
        owner = self.consumer_id
        return [(until, until, int(d.tag), owner) for d in deliveries]

    renews_blocking = True

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`renew` run on the calling thread, for a watchdog thread."""
        if deliveries:
            self._renew(self._renewals(deliveries))

    def _renew(self, params: list[tuple[float, float, int, str]]) -> None:
        with self._db.write() as conn:
            conn.executemany(_RENEW, params)

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease held by ``consumer_id`` now; return how many.

        When ``running`` is given, leases not named in it go back uncounted.
        """
        released = await self._run(self._release_owner, consumer_id, running)
        if released:
            self._notify()
            ring(self._bell_dir)
        return released

    # -- admin -----------------------------------------------------------------------
    def queue_length(self, queue: str) -> int:
        """Messages waiting in ``queue``, delayed ones included and leased ones excluded."""
        now = time.time()
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM celeriac_messages WHERE queue = ? AND not_before = 0)"
                " + (SELECT COUNT(*) FROM celeriac_messages WHERE not_before > 0 AND queue = ?"
                " AND (lease_owner IS NULL OR leased_until <= ?))",
                (queue, queue, now),
            ).fetchone()
        return int(row[0])

    def purge(self, queue: str) -> int:
        """Delete every waiting (not leased) message of ``queue``; return how many."""
        now = time.time()
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM celeriac_messages WHERE queue = ?"
                " AND (lease_owner IS NULL OR leased_until <= ?)",
                (queue, now),
            )
            return cursor.rowcount

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest last."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT queue, reason, payload, created_at, task_id, task_name"
                " FROM celeriac_dead_letters ORDER BY id DESC LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        return [
            DeadLetter(
                queue=queue,
                reason=reason,
                raw=_as_bytes(payload),
                created_at=created_at,
                task_id=task_id,
                task_name=task_name,
            )
            for queue, reason, payload, created_at, task_id, task_name in reversed(rows)
        ]

    # -- cluster-wide rate limits (transports/sqlite_ratelimit.py) -----------------------
    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key`` in the file (see :meth:`Transport.acquire_rate`)."""
        return await self._run(sqlite_ratelimit.reserve, self._db, key, rate, burst)

    def close(self) -> None:
        """Close this process's connections and stop this transport's thread."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.pid == os.getpid():
            thread.stop()
        self._db.close()
