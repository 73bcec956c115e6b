"""The ``memory://`` transport: publish, lease, settle and admin on its process's broker."""

from __future__ import annotations

import asyncio
import heapq
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Collection, Sequence
from typing import ClassVar
from urllib.parse import urlsplit

from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import DeadLetter, Delivery, Transport, TransportOptions
from celeriac.transports.memory.broker import (
    Broker,
    Entry,
    dead_letter_of,
    decode,
    notify,
    wake,
)
from celeriac.transports.memory.deadletters import MemoryDeadLetters
from celeriac.transports.memory.fanout import MemoryFanout
from celeriac.transports.memory.lock import MemoryLocks
from celeriac.transports.ratelimit import reserve_slot

__all__ = ["MemoryTransport"]


class MemoryTransport(MemoryDeadLetters, MemoryFanout, MemoryLocks, Transport):
    """A broker living in this process: for tests, eager mode and in-process workers.

    Every ``memory://name`` transport of a process shares one broker (``memory://``
    is the name ``""``), so a producer and an in-process worker meet even when each
    made its own transport. It is thread-safe: producers may publish from any thread
    while a worker's event loop fetches, and a waiting :meth:`fetch` wakes at once.
    Messages are stored as kombu envelope bytes, like every other transport.
    """

    schemes = ("memory",)
    crosses_processes = False

    _brokers: ClassVar[weakref.WeakValueDictionary[str, Broker]] = weakref.WeakValueDictionary()
    _brokers_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str = "memory://", options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        parts = urlsplit(url)
        self.name = parts.netloc + parts.path
        with self._brokers_lock:
            broker = self._brokers.get(self.name)
            if broker is None:
                broker = self._brokers[self.name] = Broker()
        self._broker = broker
        self._consumer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r}>"

    @property
    def consumer_id(self) -> str:
        """This transport's lease owner name: ``host:pid:token``."""
        return self._consumer_id

    # -- producer side ---------------------------------------------------------------
    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put a message on a queue (see :meth:`Transport.publish`)."""
        self.publish_raw(dumps_envelope(message), queue, priority=priority, eta=eta)

    def publish_raw(
        self, raw: bytes, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put already-encoded envelope bytes on a queue (stored verbatim)."""
        broker = self._broker
        priority = max(0, min(9, int(priority)))
        with broker.lock:
            entry = Entry(next(broker.ids), queue, priority, bytes(raw))
            if eta is not None and eta > time.time():
                entry.not_before = eta
                heapq.heappush(broker.delayed, (eta, entry.id, entry))
            else:
                broker.push_ready(entry)
            waiters = broker.take_waiters()
        notify(waiters)

    # -- consumer side ---------------------------------------------------------------
    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` ready messages (see :meth:`Transport.fetch`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        broker = self._broker
        while True:
            future: asyncio.Future[None] = loop.create_future()
            with broker.lock:
                taken = self._take(queues, limit)
                if not taken:
                    broker.waiters.add((loop, future))
                    next_due = broker.next_due()
            if taken:
                return [decode(entry) for entry in taken]
            now = loop.time()
            if now >= deadline:
                with broker.lock:
                    broker.waiters.discard((loop, future))
                return []
            pause = deadline - now
            if next_due is not None:
                pause = min(pause, max(0.0, next_due - time.time()))
            handle = loop.call_later(pause, wake, future)
            try:
                await future
            finally:
                handle.cancel()
                with broker.lock:
                    broker.waiters.discard((loop, future))

    def _take(self, queues: Sequence[str], limit: int) -> list[Entry]:
        """Lease ready messages (caller holds the broker lock)."""
        broker = self._broker
        now = time.time()
        broker.release_due(now)
        until = now + self.options.visibility_timeout
        limit_deliveries = self.options.max_deliveries
        taken: list[Entry] = []
        for queue in queues:
            heap = broker.ready.get(queue)
            while heap and len(taken) < limit:
                entry = heapq.heappop(heap)[2]
                if 0 < limit_deliveries <= entry.delivery_count:
                    reason = (
                        f"delivered {entry.delivery_count} times without an ack "
                        f"(task_max_deliveries={limit_deliveries})"
                    )
                    broker.park(dead_letter_of(entry.queue, reason, entry.payload, None))
                    continue
                entry.delivery_count += 1
                entry.owner = self._consumer_id
                entry.leased_until = until
                broker.leased[entry.id] = entry
                heapq.heappush(broker.lease_deadlines, (until, entry.id))
                taken.append(entry)
            if len(taken) >= limit:
                break
        return taken

    def _owned(self, deliveries: Sequence[Delivery]) -> list[Entry]:
        """The leased entries behind ``deliveries`` that this consumer still holds."""
        leased = self._broker.leased
        entries = []
        for delivery in deliveries:
            entry = leased.get(int(delivery.tag))
            if entry is not None and entry.owner == self._consumer_id:
                entries.append(entry)
        return entries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove settled messages for good."""
        broker = self._broker
        with broker.lock:
            for delivery in deliveries:
                broker.leased.pop(int(delivery.tag), None)

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Make leased messages available again now (see :meth:`Transport.requeue`)."""
        broker = self._broker
        with broker.lock:
            for entry in self._owned(deliveries):
                del broker.leased[entry.id]
                if not count:
                    entry.delivery_count = max(0, entry.delivery_count - 1)
                broker.unlease(entry)
            waiters = broker.take_waiters()
        notify(waiters)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in the dead-letter store with a reason, and drop its lease."""
        broker = self._broker
        with broker.lock:
            entry = broker.leased.pop(int(delivery.tag), None)
            if entry is not None:
                raw = entry.payload
            elif delivery.raw is not None:
                raw = delivery.raw
            elif delivery.message is not None:
                raw = dumps_envelope(delivery.message)
            else:
                raw = b""
            broker.park(dead_letter_of(delivery.queue, reason, raw, delivery.message))

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Extend the leases of messages still being worked on by ``visibility_timeout``."""
        broker = self._broker
        until = time.time() + self.options.visibility_timeout
        with broker.lock:
            for entry in self._owned(deliveries):
                entry.leased_until = until
                heapq.heappush(broker.lease_deadlines, (until, entry.id))

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease held by ``consumer_id`` now; return how many.

        When ``running`` is given, leases not named in it go back uncounted.
        """
        broker = self._broker
        with broker.lock:
            entries = [e for e in broker.leased.values() if e.owner == consumer_id]
            for entry in entries:
                if running is not None and str(entry.id) not in running:
                    entry.delivery_count = max(0, entry.delivery_count - 1)
                del broker.leased[entry.id]
                broker.unlease(entry)
            waiters = broker.take_waiters() if entries else []
        notify(waiters)
        return len(entries)

    # -- admin -----------------------------------------------------------------------
    def queue_length(self, queue: str) -> int:
        """Messages waiting in ``queue``, delayed ones included and leased ones excluded."""
        broker = self._broker
        with broker.lock:
            broker.release_due(time.time())
            delayed = sum(1 for _, _, entry in broker.delayed if entry.queue == queue)
            return len(broker.ready.get(queue, ())) + delayed

    def purge(self, queue: str) -> int:
        """Delete every waiting message of ``queue``; return how many."""
        broker = self._broker
        with broker.lock:
            broker.release_due(time.time())
            removed = len(broker.ready.pop(queue, ()))
            kept = [item for item in broker.delayed if item[2].queue != queue]
            removed += len(broker.delayed) - len(kept)
            heapq.heapify(kept)
            broker.delayed = kept
        return removed

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest last."""
        with self._broker.lock:
            items = list(self._broker.dead)
        return items[-limit:] if limit > 0 else []

    # -- cluster-wide rate limits (one process: every worker of this broker) -------------
    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key`` (see :meth:`Transport.acquire_rate`)."""
        broker = self._broker
        with broker.lock:
            now = time.monotonic()
            tat, wait = reserve_slot(broker.rate_tats.get(key), now, rate, burst)
            broker.rate_tats[key] = tat
        return wait
