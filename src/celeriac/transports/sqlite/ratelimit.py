"""Cluster-wide rate limits on the SQLite broker: one row per key, updated under BEGIN IMMEDIATE."""

from __future__ import annotations

import time

from celeriac.transports.ratelimit import reserve_slot
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection
from celeriac.utils.sqlite import SQLiteDatabase

__all__ = ["SQLiteRates", "reserve"]


def reserve(db: SQLiteDatabase, key: str, rate: float, burst: int) -> float:
    """Reserve the next slot of ``key`` for every process on this file; return the wait.

    The read and the update run in one write transaction, so two workers never get
    the same slot. The clock is this machine's (every user of the file shares it).
    """
    with db.write() as conn:
        conn.execute(schema.RATE_SCHEMA)
        row = conn.execute(schema.READ_RATE, (key,)).fetchone()
        tat, wait = reserve_slot(float(row[0]) if row else None, time.time(), rate, burst)
        conn.execute(schema.WRITE_RATE, (key, tat))
    return wait


class SQLiteRates(SQLiteConnection):
    """The :class:`~celeriac.transports.contracts.RateStore` capability."""

    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key`` in the file (see ``RateStore.acquire_rate``)."""
        return await self._run(reserve, self._db, key, rate, burst)
