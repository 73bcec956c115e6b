"""Cluster-wide rate limits: the GCRA slot arithmetic every transport's store shares."""

from __future__ import annotations

__all__ = ["reserve_slot"]


def reserve_slot(tat: float | None, now: float, rate: float, burst: int) -> tuple[float, float]:
    """Reserve the next slot of a generic cell rate algorithm (GCRA) limiter.

    ``tat`` is the stored "theoretical arrival time" (``None`` when unused or expired).
    Each call moves it on by one interval (``1 / rate``); up to ``burst`` calls may run
    at once after a quiet period. The caller always gets a slot (a reservation), so
    waiting callers are served in the order they asked and nobody polls.

    Returns:
        ``(new_tat, wait)``: the value to store and the seconds until the slot (0 = now).
    """
    interval = 1.0 / rate
    start = now if tat is None or tat < now else tat
    wait = start - (max(1, burst) - 1) * interval - now
    return start + interval, wait if wait > 0 else 0.0
