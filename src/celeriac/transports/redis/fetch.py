"""Consuming from Redis: open, fetch (lease now, or wait on the blockers), close.

Queues are served in ``queue_order_strategy`` order: ``round_robin`` (kombu's default:
queues that delivered go to the back of the line), ``priority`` (the given order) or
``sorted``. Within one LEASE, lists are served priority-major across queues (step 0 of
every queue, then step 3 …), as kombu's BRPOP does. On Redis, kombu serves step 0 first,
so priority 0 is the most urgent and 9 the least (Celery documents this, and it is the
opposite of RabbitMQ); a queue shared by Celery and celeriac workers needs exactly that.

A fetch keeps trying through connection errors, with backoff (``connection.py``), and
returns ``[]`` at its deadline, so a worker rides out a Redis restart.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

import redis
import redis.exceptions

from celeriac.exceptions import BrokerError
from celeriac.transports.base import Delivery, TransportOptions
from celeriac.transports.redis.blocking import RedisBlocking
from celeriac.transports.redis.connection import CONNECTION_ERRORS
from celeriac.transports.redis.lease import MAX_BATCH
from celeriac.transports.redis.publish import RedisPublisher
from celeriac.transports.redis.state import Hints
from celeriac.utils.log import own_logger
from celeriac.utils.redis_url import redacted_url

__all__ = ["RedisFetch"]

logger = own_logger(__name__)


class RedisFetch(RedisBlocking, RedisPublisher):
    """The consumer's side of the work queue."""

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        #: round robin: the queues in the order the next fetch serves them
        self._rotation: deque[str] = deque()

    async def open(self) -> None:
        """Check the broker answers, retrying with backoff (``broker_connection_max_retries``)."""
        state = self._loop_state()
        self._closed = False
        max_retries = self.config.connect_max_retries
        attempt = 0
        while True:
            try:
                await state.client.ping()
            except CONNECTION_ERRORS as exc:
                attempt += 1
                if not self.config.retry_on_startup or (
                    max_retries is not None and attempt > max_retries
                ):
                    raise BrokerError(
                        f"cannot connect to the Redis broker at {redacted_url(self.url)}: {exc}"
                    ) from exc
                self._backoff.lost(exc)
                await asyncio.sleep(max(0.0, self._backoff.retry_at - time.monotonic()))
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"Redis broker at {redacted_url(self.url)}: {exc}") from exc
            self._backoff.restored()
            return

    async def aclose(self) -> None:
        """Unblock and stop the blockers, give back what they hold, close connections."""
        self._closed = True
        state = self._state
        if state is None or state.loop is not asyncio.get_running_loop():
            self._state = None
            return
        self._state = None
        for waiter in state.waiters:
            if not waiter.future.done():
                waiter.future.set_result([])
        try:
            await self._stop_blockers(state)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.warning(
                "Closing the Redis consumer: %r (messages in flight come back "
                "when its heartbeat expires)",
                exc,
            )
        if state.background:  # give-backs: let them finish, they hold leases
            await asyncio.gather(*state.background, return_exceptions=True)
        try:
            await state.client.aclose(close_connection_pool=True)
        except Exception:  # closing on a broken connection
            pass

    def _ordered(self, queues: Sequence[str]) -> tuple[str, ...]:
        unique = tuple(dict.fromkeys(queues))
        if self.config.queue_order == "sorted":
            return tuple(sorted(unique))
        if self.config.queue_order == "priority" or len(unique) < 2:
            return unique
        if set(self._rotation) != set(unique):
            self._rotation = deque(unique)
        return tuple(self._rotation)

    def _rotate(self, deliveries: Sequence[Delivery]) -> None:
        """Round robin: queues that delivered go to the back of the line (as kombu)."""
        if self.config.queue_order != "round_robin" or len(self._rotation) < 2:
            return
        for queue in dict.fromkeys(d.queue for d in deliveries):
            if queue in self._rotation:
                self._rotation.remove(queue)
                self._rotation.append(queue)

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages (see :meth:`Transport.fetch` and the module doc)."""
        state = self._loop_state()
        self._closed = False
        loop = state.loop
        deadline = loop.time() + max(0.0, timeout)
        limit = max(0, min(int(limit), MAX_BATCH))
        ordered = self._ordered(queues)
        if not ordered or limit == 0:
            await asyncio.sleep(max(0.0, timeout))
            return []
        drained, state.drained = state.drained, None
        while True:
            if self._backoff.down_since is not None and not await self._wait_retry(loop, deadline):
                return []
            try:
                if self._orphans_possible:
                    await self._reclaim_orphans(state)
                await self._declare(state, ordered)
                layout = self._layout(ordered)
                if drained is not None and drained[0] == layout.members:
                    # A blocker's LEASE found these queues empty a moment ago: a LEASE
                    # now would find nothing; BLMOVE returns at once if something came.
                    deliveries, hints = list[Delivery](), drained[1]
                else:
                    deliveries, hints = await self._lease(state, layout, limit)
                drained = None
                await self._maintain(state, hints)
            except CONNECTION_ERRORS as exc:
                self._backoff.lost(exc)
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"fetch failed on the Redis broker: {exc}") from exc
            self._backoff.restored()
            if not deliveries:
                pause = self._pause(hints, deadline - loop.time())
                if pause <= 0:
                    return []
                deliveries = await self._wait(state, layout, limit, pause)
            if deliveries:
                self._rotate(deliveries)
                return deliveries
            if loop.time() >= deadline:
                return []

    def _pause(self, hints: Hints, remaining: float) -> float:
        """How long an idle fetch may wait before it must look again itself."""
        pause = remaining
        if hints.next_eta is not None:
            pause = min(pause, max(0.0, hints.next_eta - time.time()))
        now = time.monotonic()
        if hints.stale_leases:
            pause = min(pause, max(0.0, self._next_restore - now))
        if hints.dead_consumers:
            pause = min(pause, max(0.0, self._next_sweep - now))
        return pause

    async def _wait_retry(self, loop: asyncio.AbstractEventLoop, deadline: float) -> bool:
        """Sleep until the next reconnection attempt; False when the deadline comes first."""
        pause = self._backoff.retry_at - time.monotonic()
        if pause > 0:
            remaining = deadline - loop.time()
            if remaining <= pause:
                await asyncio.sleep(max(0.0, remaining))
                return False
            await asyncio.sleep(pause)
        return True
