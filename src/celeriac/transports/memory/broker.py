"""The state every ``memory://name`` transport of one process shares: queues, leases, waiters."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import DeadLetter, Delivery

__all__ = ["MAX_DEAD_LETTERS", "Broker", "Entry", "dead_letter_of", "decode", "notify", "wake"]

#: Dead letters kept per broker (the oldest are dropped first).
MAX_DEAD_LETTERS = 10_000


@dataclass(slots=True, eq=False)
class Entry:
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
class Broker:
    """The state every ``memory://name`` transport of one process shares."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: queue -> heap of (-priority, id, entry): higher priority first, FIFO within one.
    ready: dict[str, list[tuple[int, int, Entry]]] = field(default_factory=dict)
    #: heap of (not_before, id, entry) for messages with a future ETA.
    delayed: list[tuple[float, int, Entry]] = field(default_factory=list)
    leased: dict[int, Entry] = field(default_factory=dict)
    #: heap of (leased_until, id); stale items (acked, renewed) are skipped when popped.
    lease_deadlines: list[tuple[float, int]] = field(default_factory=list)
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=MAX_DEAD_LETTERS))
    #: fetchers waiting for a message: woken from any thread.
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=set
    )
    #: cluster-wide rate limits (one process here): key -> theoretical arrival time
    rate_tats: dict[str, float] = field(default_factory=dict)

    def park(self, letter: DeadLetter) -> None:
        """Keep a dead letter, with an id of this broker's (caller holds the lock)."""
        letter.id = str(next(self.ids))
        self.dead.append(letter)

    def push_ready(self, entry: Entry) -> None:
        """Make ``entry`` available to fetches of its queue."""
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

    def unlease(self, entry: Entry) -> None:
        """Drop ``entry``'s lease and make it available again."""
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
        """Every waiting fetch, now forgotten (the caller wakes them outside the lock)."""
        waiters = list(self.waiters)
        self.waiters.clear()
        return waiters


def wake(future: asyncio.Future[None]) -> None:
    """Resolve a waiting fetch's future (on its loop)."""
    if not future.done():
        future.set_result(None)


def notify(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    """Wake waiting fetches from any thread."""
    for loop, future in waiters:
        try:
            loop.call_soon_threadsafe(wake, future)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


def decode(entry: Entry) -> Delivery:
    """The delivery of a leased entry (``message=None`` with the error for garbage)."""
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


def dead_letter_of(queue: str, reason: str, raw: bytes, message: Message | None) -> DeadLetter:
    """A dead letter for ``raw``, with the task id and name when its headers can be read."""
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
