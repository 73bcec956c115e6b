"""Settling leased rows: ack, requeue, dead-letter, and lease renewal (also from a thread)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Delivery
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.records import as_bytes, task_of
from celeriac.transports.sqlite.recovery import SQLiteRecovery
from celeriac.utils.doorbell import ring

__all__ = ["SQLiteSettling"]


class SQLiteSettling(SQLiteRecovery):
    """Each settling call is one write transaction on the loop's thread.

    :meth:`renew_blocking` (the :class:`~celeriac.transports.contracts.BlockingRenewal`
    capability) runs the same write on the calling thread, for the watchdog that renews
    the lease of a sync body running on the loop's thread.
    """

    @staticmethod
    def _insert_dead(
        conn: sqlite3.Connection,
        queue: str,
        reason: str,
        raw: bytes,
        message: Message | None,
        count: int,
    ) -> None:
        """Insert a dead letter (inside the caller's transaction)."""
        task_id, task_name = task_of(raw, message)
        conn.execute(
            schema.INSERT_DEAD, (queue, reason, raw, time.time(), task_id, task_name, count)
        )

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove settled messages for good (one transaction)."""
        if deliveries:
            await self._run(self._ack, [(int(d.tag),) for d in deliveries])

    def _ack(self, ids: list[tuple[int]]) -> None:
        """Delete acked rows (one transaction)."""
        with self._db.write() as conn:
            conn.executemany(schema.DELETE, ids)

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
        """Make rows ready again (``(uncount, id, owner)`` each, one transaction)."""
        with self._db.write() as conn:
            conn.executemany(schema.REQUEUE, params)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in the dead-letter table with a reason, and drop its lease."""
        await self._run(self._dead_letter, delivery, reason)

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a row (or, when its lease is gone, what the delivery holds) to dead letters."""
        row_id = int(delivery.tag)
        with self._db.write() as conn:
            row = conn.execute(schema.SELECT_LEASED, (row_id,)).fetchone()
            if row is not None:
                raw, count = as_bytes(row[0]), int(row[1])
                conn.execute(schema.DELETE, (row_id,))
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
        """The parameters of ``schema.RENEW``: the new lease end for each of our deliveries."""
        until = time.time() + self.config.visibility_timeout
        owner = self.consumer_id
        return [(until, until, int(d.tag), owner) for d in deliveries]

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`renew` run on the calling thread, for a watchdog thread."""
        if deliveries:
            self._renew(self._renewals(deliveries))

    def _renew(self, params: list[tuple[float, float, int, str]]) -> None:
        """Write new lease ends (one transaction)."""
        with self._db.write() as conn:
            conn.executemany(schema.RENEW, params)
