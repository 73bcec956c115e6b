"""Cluster-wide rate limits on the SQLite broker: one row per key, updated under BEGIN IMMEDIATE."""

from __future__ import annotations

import time

from celeriac.transports.ratelimit import reserve_slot
from celeriac.utils.sqlite import SQLiteDatabase

__all__ = ["SCHEMA", "reserve"]

SCHEMA = """
    CREATE TABLE IF NOT EXISTS celeriac_rate_limits (
        key TEXT PRIMARY KEY,
        tat REAL NOT NULL
    )
"""


def reserve(db: SQLiteDatabase, key: str, rate: float, burst: int) -> float:
    """Reserve the next slot of ``key`` for every process on this file; return the wait.

    The read and the update run in one write transaction, so two workers never get
    the same slot. The clock is this machine's (every user of the file shares it).
    """
    with db.write() as conn:
        conn.execute(SCHEMA)
        row = conn.execute("SELECT tat FROM celeriac_rate_limits WHERE key = ?", (key,)).fetchone()
        tat, wait = reserve_slot(float(row[0]) if row else None, time.time(), rate, burst)
        conn.execute(
            "INSERT INTO celeriac_rate_limits (key, tat) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET tat = excluded.tat",
            (key, tat),
        )
    return wait
