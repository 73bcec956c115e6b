"""Global rate limits on RabbitMQ: each limiter's next slot is a token message.

The limiter ``key`` keeps its "theoretical arrival time" as the token of the durable
queue ``celeriac.rate.<key>`` (``tokens.py``): reserving a slot takes the token, moves
the time on by one interval (the GCRA of ``transports/ratelimit.py``) and puts it back,
atomically across workers. RabbitMQ holds the value; the workers' clocks must agree
(NTP), since RabbitMQ has no clock to lend.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from celeriac.transports.amqp.lock import Locks
from celeriac.transports.amqp.sync import SyncChannel
from celeriac.transports.amqp.tokens import update_token
from celeriac.transports.ratelimit import reserve_slot

__all__ = ["Rates"]


class Rates(Locks):
    """:class:`~celeriac.transports.contracts.RateStore` on token messages."""

    def reserve_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Sync twin of :meth:`acquire_rate`."""
        waits: list[float] = []

        def change(value: Any) -> float:
            now = time.time()
            tat = float(value) if isinstance(value, int | float) else None
            new_tat, wait = reserve_slot(tat, now, rate, burst)
            waits.append(wait)
            return new_tat

        def run(item: SyncChannel) -> Any:
            return update_token(item, self.config.own(f"celeriac.rate.{key}"), change)

        self.pool.run("Reserving a rate-limit slot", run)
        return waits[-1]

    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key``; return the seconds to wait for it."""
        return await asyncio.to_thread(self.reserve_rate, key, rate, burst)
