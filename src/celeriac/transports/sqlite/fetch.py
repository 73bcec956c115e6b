"""The lease and fetch path: lease ready rows, and wait cheaply while there are none.

An idle :meth:`~SQLiteFetch.fetch` looks at ``PRAGMA data_version`` (which changes when
another connection commits): every millisecond right after activity, backing off to
``polling_interval``; a publish through this same transport wakes it at once, and
publishers in any process ring a doorbell next to the file (``utils/doorbell.py``), so a
bound consumer polls only every ``DOORBELL_POLL``. About once a second a look also gives
back the leases of this host's dead processes (``recovery.py``), so the messages of a
killed worker run again within a second or two.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from collections.abc import Sequence

from celeriac.exceptions import BrokerError
from celeriac.transports.base import Delivery
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import FAST_POLL, wake
from celeriac.transports.sqlite.records import as_bytes, decode
from celeriac.transports.sqlite.settle import SQLiteSettling
from celeriac.utils.doorbell import Doorbell
from celeriac.utils.log import own_logger

__all__ = ["DOORBELL_POLL", "POLL_BACKOFF", "SQLiteFetch"]

logger = own_logger(__name__)

#: Factor the pause grows by per idle look, up to ``polling_interval``.
POLL_BACKOFF = 1.25
#: Longest idle pause while a doorbell is bound: publishers ring it, so the poll only
#: catches what no bell announced (dead leases, writers that cannot ring).
DOORBELL_POLL = 0.25


class SQLiteFetch(SQLiteSettling):
    """Opening, closing and fetching: the consumer's side of the work queue."""

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
                logger.warning(
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
        ceiling = max(self.config.polling_interval, FAST_POLL)
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
                loop.call_soon_threadsafe(wake, future, True)
                return None
            self._poll_delay = min(self._poll_delay * POLL_BACKOFF, ceiling)
            return self._poll_delay

        thread = self._sqlite_thread()
        handle = loop.call_later(pause, wake, future, False)
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

    def _has_work(self, queues: Sequence[str], now: float) -> bool:
        """A cheap read: is anything ready in ``queues`` or due anywhere?"""
        with self._db.connection() as conn:
            if conn.execute(schema.ANY_DUE, (now,)).fetchone() is not None:
                return True
            return any(conn.execute(schema.ANY_READY, (queue,)).fetchone() for queue in queues)

    def _lease(self, queues: Sequence[str], limit: int) -> tuple[list[Delivery], float | None]:
        """Lease ready rows in one write transaction; return them and the next due time."""
        self._recover_dead()
        now = time.time()
        rows: list[tuple[int, str, int, bytes]] = []
        if limit > 0 and self._has_work(queues, now):
            with self._db.write() as conn:
                conn.execute(schema.RELEASE_DUE, (now,))
                for queue in queues:
                    if len(rows) >= limit:
                        break
                    self._lease_queue(conn, queue, limit - len(rows), now, rows)
        with self._db.connection() as conn:
            self._data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            next_due = None if rows else conn.execute(schema.NEXT_DUE).fetchone()[0]
        return [decode(*row) for row in rows], next_due

    def _lease_queue(
        self,
        conn: sqlite3.Connection,
        queue: str,
        wanted: int,
        now: float,
        rows: list[tuple[int, str, int, bytes]],
    ) -> None:
        """Lease up to ``wanted`` rows of one queue, dead-lettering the over-delivered ones."""
        until = now + self.config.visibility_timeout
        owner = self.consumer_id
        max_deliveries = self.config.max_deliveries
        while wanted > 0:
            batch = conn.execute(schema.SELECT_READY, (queue, wanted)).fetchall()
            leased = []
            for row_id, count, payload in batch:
                raw = as_bytes(payload)
                if 0 < max_deliveries <= count:
                    reason = (
                        f"delivered {count} times without an ack "
                        f"(task_max_deliveries={max_deliveries})"
                    )
                    self._insert_dead(conn, queue, reason, raw, None, count)
                    conn.execute(schema.DELETE, (row_id,))
                    continue
                leased.append((until, until, owner, row_id))
                rows.append((row_id, queue, count + 1, raw))
            conn.executemany(schema.LEASE, leased)
            if len(batch) < wanted:
                return  # the queue has no more ready rows
            wanted -= len(leased)
