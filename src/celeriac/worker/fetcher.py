"""The fetch loop and the prefetch window: how many messages a consumer leases, and when.

:class:`PrefetchWindow` counts the jobs in flight (sync and async apart) and says how
many more to lease; :class:`Fetcher` leases that many, hands each delivery to intake,
retries a failing broker with backoff, and renews the leases of held messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from celeriac.transports.base import Delivery, Transport
from celeriac.worker.held import HeldDeliveries
from celeriac.worker.job import Job

__all__ = ["Fetcher", "PrefetchWindow"]

logger = logging.getLogger("celery.worker.consumer")

#: Most messages held waiting (ETA, rate limit) beyond the prefetch window.
MAX_WAITING = 1000


class PrefetchWindow:
    """How many jobs are in flight, and how many more messages to fetch.

    Sync tasks get ``concurrency * prefetch_multiplier`` slots; async slots count only
    while async tasks are arriving (from the first fetched batch that holds one), so a
    queue of sync tasks is not over-prefetched, even by a worker that knows async tasks.
    Jobs waiting for an ETA or a rate-limit slot leave the window (up to
    :data:`MAX_WAITING` of them).
    """

    def __init__(
        self, concurrency: int, prefetch_multiplier: int, async_slots: int, has_async: bool
    ) -> None:
        self.sync_cap = min(concurrency * max(1, prefetch_multiplier), 512)
        self.async_slots = async_slots
        self.has_async = has_async
        self.sync_inflight = 0
        self.async_inflight = 0
        #: jobs waiting outside the window
        self.waiting = 0
        #: set whenever room may have opened (and to wake the fetch loop for a stop)
        self.room = asyncio.Event()
        #: True while held bodies take their whole byte budget (``worker_max_held_bytes``)
        self.over_budget: Callable[[], bool] = lambda: False
        self._async_arriving = False  # until a fetched batch brings an async task
        self._async_received = 0
        self._received_before = 0

    def size(self) -> int:
        """How many messages to fetch now (0: wait for room).

        While work is in flight the consumer waits until half the window is free, so
        each fetch (a write transaction on SQLite) leases a batch rather than one message.
        """
        if self.waiting >= MAX_WAITING or self.over_budget():
            return 0
        async_cap = self.async_slots if self._async_arriving else 0
        capacity = self.sync_cap + async_cap
        inflight = self.sync_inflight + self.async_inflight
        free = max(0, self.sync_cap - self.sync_inflight) + max(0, async_cap - self.async_inflight)
        if inflight and free < (capacity + 1) // 2:
            return 0
        return free

    def received(self, job: Job) -> None:
        """A job entered the pipeline."""
        if job.task.is_async:
            self._async_received += 1
        self.enter(job)

    def batch_started(self) -> None:
        """A fetched batch is about to be received."""
        self._received_before = self._async_received

    def batch_done(self) -> None:
        """A fetched batch was received: async slots count while async tasks arrive."""
        if self.has_async:
            self._async_arriving = self._async_received > self._received_before

    def enter(self, job: Job) -> None:
        """``job`` takes a place in the window."""
        if job.task.is_async:
            self.async_inflight += 1
        else:
            self.sync_inflight += 1

    def leave(self, job: Job) -> None:
        """``job`` gives its place back (it finished, or waits outside the window)."""
        if job.task.is_async:
            self.async_inflight -= 1
        else:
            self.sync_inflight -= 1
        self.room.set()


class Fetcher:
    """Leases batches of messages as the window allows and hands each one to ``receive``.

    Args:
        transport: where messages come from.
        queues: the queues to consume, most important first.
        window: the prefetch window.
        receive: intake, called with each delivery (on the loop).
        stopping: True once the consumer was asked to stop.
        fetch_timeout: longest wait of one idle fetch.
    """

    def __init__(
        self,
        transport: Transport,
        queues: list[str],
        window: PrefetchWindow,
        receive: Callable[[Delivery], None],
        stopping: Callable[[], bool],
        fetch_timeout: float,
    ) -> None:
        self.transport = transport
        self.queues = queues
        self.window = window
        self.receive = receive
        self.stopping = stopping
        self.fetch_timeout = fetch_timeout

    async def run(self, drained: Callable[[], bool]) -> bool:
        """Fetch until stopped; True when ``drained()`` ended it (burst mode: queues empty)."""
        failures = 0
        window = self.window
        while not self.stopping():
            size = window.size()
            if size <= 0:
                window.room.clear()
                await window.room.wait()
                continue
            try:
                deliveries = await self.transport.fetch(self.queues, size, self.fetch_timeout)
            except Exception as exc:  # e.g. a broker refusing writes: keep the worker alive
                failures += 1
                pause = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                logger.error(
                    "Fetching from %s failed (%r); retrying in %.1fs", self.queues, exc, pause
                )
                await asyncio.sleep(pause)
                continue
            if failures:
                logger.warning("Fetching from %s works again", self.queues)
                failures = 0
            if not deliveries:
                if drained():
                    return True
                continue
            window.batch_started()
            for delivery in deliveries:
                self.receive(delivery)
            window.batch_done()
            await asyncio.sleep(0)
        return False

    async def renew_leases(self, held: HeldDeliveries, period: float) -> None:
        """Every ``period`` seconds, renew the held messages' leases (until cancelled)."""
        while True:
            await asyncio.sleep(period)
            if len(held):
                try:
                    await self.transport.renew(list(held))
                except Exception as exc:
                    logger.warning("Renewing %d leases failed: %r", len(held), exc)
