"""In-process broker (``memory://``): priorities, ETA, leases and dead letters in one process."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import DeadLetter, Delivery, Transport, TransportOptions
from celeriac.transports.memory_fanout import MemoryFanout
from celeriac.transports.memory_lock import MemoryLockMixin
from celeriac.transports.ratelimit import reserve_slot

__all__ = ["MemoryTransport"]

#: Dead letters kept per broker (the oldest are dropped first).
MAX_DEAD_LETTERS = 10_000


@dataclass(slots=True, eq=False)
class _Entry:
    """One stored message and its lease state."""

    id: int
    queue: str
    priority: int
    payload: bytes
    not_before: float = 0.0
    delivery_count: int = 0
    owner: str | None = None
    leased_until: float = 0.0


@dataclass(slots=True, eq=False, weakref_slot=True)
class _Broker:
    """The state every ``memory://name`` transport of one process shares."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: queue -> heap of (-priority, id, entry): higher priority first, FIFO within one.
    ready: dict[str, list[tuple[int, int, _Entry]]] = field(default_factory=dict)
    #: heap of (not_before, id, entry) for messages with a future ETA.
    delayed: list[tuple[float, int, _Entry]] = field(default_factory=list)
    leased: dict[int, _Entry] = field(default_factory=dict)
    #: heap of (leased_until, id); stale items (acked, renewed) are skipped when popped.
    lease_deadlines: list[tuple[float, int]] = field(default_factory=list)
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=MAX_DEAD_LETTERS))
    #: fetchers waiting for a message: woken from any thread.
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=set
    )
    #: cluster-wide rate limits (one process here): key -> theoretical arrival time
    rate_tats: dict[str, float] = field(default_factory=dict)

    def push_ready(self, entry: _Entry) -> None:
        heapq.heappush(self.ready.setdefault(entry.queue, []), (-entry.priority, entry.id, entry))

    def release_due(self, now: float) -> None:
        """Move due ETA messages and expired leases to their ready queues."""
        while self.delayed and self.delayed[0][0] <= now:
            entry = heapq.heappop(self.delayed)[2]
            entry.not_before = 0.0
            self.push_ready(entry)
        while self.lease_deadlines and self.lease_deadlines[0][0] <= now:
            entry_id = heapq.heappop(self.lease_deadlines)[1]
            leased = self.leased.get(entry_id)
            if leased is not None and leased.leased_until <= now:
                del self.leased[entry_id]
                self.unlease(leased)

    def unlease(self, entry: _Entry) -> None:
        entry.owner = None
        entry.leased_until = 0.0
        self.push_ready(entry)

    def next_due(self) -> float | None:
        """Epoch of the next ETA or lease expiry, if any."""
        times = []
        if self.delayed:
            times.append(self.delayed[0][0])
        if self.lease_deadlines:
            times.append(self.lease_deadlines[0][0])
        return min(times) if times else None

    def take_waiters(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        waiters = list(self.waiters)
        self.waiters.clear()
        return waiters


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _notify(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    for loop, future in waiters:
        try:
            loop.call_soon_threadsafe(_wake, future)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


def _decode(entry: _Entry) -> Delivery:
    try:
        message: Message | None = loads_envelope(entry.payload)
    except (DecodeError, ValueError, TypeError) as exc:
        return Delivery(
            message=None,
            queue=entry.queue,
            tag=str(entry.id),
            delivery_count=entry.delivery_count,
            raw=entry.payload,
            error=str(exc),
        )
    return Delivery(
        message=message, queue=entry.queue, tag=str(entry.id), delivery_count=entry.delivery_count
    )


def _dead_letter(queue: str, reason: str, raw: bytes, message: Message | None) -> DeadLetter:
    if message is None:
        try:
            message = loads_envelope(raw)
        except (DecodeError, ValueError, TypeError):
            message = None
    headers = message.headers if message is not None else {}
    task_id, task_name = headers.get("id"), headers.get("task")
    return DeadLetter(
        queue=queue,
        reason=reason,
        raw=raw,
        created_at=time.time(),
        task_id=str(task_id) if task_id is not None else None,
        task_name=str(task_name) if task_name is not None else None,
    )


class MemoryTransport(MemoryFanout, MemoryLockMixin, Transport):
    """A broker living in this process: for tests, eager mode and in-process workers.

    Every ``memory://name`` transport of a process shares one broker (``memory://``
    is the name ``""``), so a producer and an in-process worker meet even when each
    made its own transport. It is thread-safe: producers may publish from any thread
    while a worker's event loop fetches, and a waiting :meth:`fetch` wakes at once.
    Messages are stored as kombu envelope bytes, like every other transport.
    """

    schemes = ("memory",)
    crosses_processes = False

    _brokers: ClassVar[weakref.WeakValueDictionary[str, _Broker]] = weakref.WeakValueDictionary()
    _brokers_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str = "memory://", options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        parts = urlsplit(url)
        self.name = parts.netloc + parts.path
        with self._brokers_lock:
            broker = self._brokers.get(self.name)
            if broker is None:
                broker = self._brokers[self.name] = _Broker()
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
            entry = _Entry(next(broker.ids), queue, priority, bytes(raw))
            if eta is not None and eta > time.time():
                entry.not_before = eta
                heapq.heappush(broker.delayed, (eta, entry.id, entry))
            else:
                broker.push_ready(entry)
            waiters = broker.take_waiters()
        _notify(waiters)

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
                return [_decode(entry) for entry in taken]
            now = loop.time()
            if now >= deadline:
                with broker.lock:
                    broker.waiters.discard((loop, future))
                return []
            pause = deadline - now
            if next_due is not None:
                pause = min(pause, max(0.0, next_due - time.time()))
            handle = loop.call_later(pause, _wake, future)
            try:
                await future
            finally:
                handle.cancel()
                with broker.lock:
                    broker.waiters.discard((loop, future))

    def _take(self, queues: Sequence[str], limit: int) -> list[_Entry]:
        """Lease ready messages (caller holds the broker lock)."""
        broker = self._broker
        now = time.time()
        broker.release_due(now)
        until = now + self.options.visibility_timeout
        limit_deliveries = self.options.max_deliveries
        taken: list[_Entry] = []
        for queue in queues:
            heap = broker.ready.get(queue)
            while heap and len(taken) < limit:
                entry = heapq.heappop(heap)[2]
                if 0 < limit_deliveries <= entry.delivery_count:
                    reason = (
                        f"delivered {entry.delivery_count} times without an ack "
                        f"(task_max_deliveries={limit_deliveries})"
                    )
                    broker.dead.append(_dead_letter(entry.queue, reason, entry.payload, None))
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

    def _owned(self, deliveries: Sequence[Delivery]) -> list[_Entry]:
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
        _notify(waiters)

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
            broker.dead.append(_dead_letter(delivery.queue, reason, raw, delivery.message))

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
        _notify(waiters)
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
