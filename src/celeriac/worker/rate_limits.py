"""Per-worker task rate limits (``rate_limit='10/s'``): a waiting slot per call, never a lock."""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter", "parse_rate"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(rate: str | float | int | None) -> float:
    """Parse Celery's rate strings (``'10/s'``, ``'100/m'``, ``'1000/h'``, ``5``) to tasks/second.

    Returns 0.0 for "no limit".

    Raises:
        ValueError: the string is not a rate.
    """
    if rate is None or rate == "":
        return 0.0
    if isinstance(rate, int | float):
        return float(rate)
    count, _, unit = str(rate).partition("/")
    try:
        value = float(count)
    except ValueError:
        raise ValueError(f"invalid rate limit {rate!r}: expected e.g. '10/s', '100/m'") from None
    if not unit:
        return value
    seconds = _UNITS.get(unit.strip()[:1].lower())
    if seconds is None:
        raise ValueError(f"invalid rate limit unit in {rate!r}: use s, m or h")
    return value / seconds


class RateLimiter:
    """Spaces calls of one task name evenly at ``rate`` per second.

    Each call reserves the next free slot and sleeps until it, so calls of other
    tasks are never held up behind a limited one.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    def set_rate(self, rate: float) -> None:
        """Change the rate; calls already waiting keep their slots."""
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def reserve(self) -> float:
        """Reserve a slot; return the seconds to wait before running."""
        if not self.interval:
            return 0.0
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + self.interval
        return start - now

    async def acquire(self) -> None:
        """Wait for this call's slot."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
