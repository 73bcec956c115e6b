"""Broadcast and reply queues of the ``memory://`` broker (in-process, thread-safe)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Subscription

__all__ = ["MemoryFanout"]


def _matches(binding_key: str, routing_key: str) -> bool:
    """A fanout binding key: ``#`` (or empty) takes everything, else a ``*``/``#`` glob."""
    if binding_key in ("", "#"):
        return True
    import fnmatch

    return fnmatch.fnmatchcase(routing_key, binding_key.replace("#", "*"))


@dataclass(slots=True, eq=False)
class _Hub:
    """The broadcast state one ``memory://name`` broker shares in this process."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    subscribers: set[_MemorySubscription] = field(default_factory=set)
    #: exchange -> {(routing_key, queue)}
    bindings: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    queues: dict[str, deque[bytes]] = field(default_factory=dict)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)


class _MemorySubscription(Subscription):
    def __init__(self, hub: _Hub, exchange: str, routing_key: str) -> None:
        self.hub = hub
        self.exchange = exchange
        self.routing_key = routing_key
        self.loop = asyncio.get_running_loop()
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def deliver(self, raw: bytes) -> None:
        try:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, raw)
        except RuntimeError:  # its loop is closed
            pass

    async def get(self, timeout: float) -> Message | None:
        try:
            async with asyncio.timeout(timeout):
                raw = await self.inbox.get()
        except TimeoutError:
            return None
        return loads_envelope(raw)

    async def aclose(self) -> None:
        with self.hub.lock:
            self.hub.subscribers.discard(self)


class MemoryFanout:
    """The :class:`~celeriac.transports.contracts.Broadcast` capability, in-process."""

    name: str
    _hubs: ClassVar[dict[str, _Hub]] = {}
    _hubs_lock: ClassVar[threading.Lock] = threading.Lock()

    def _hub(self) -> _Hub:
        with self._hubs_lock:
            hub = self._hubs.get(self.name)
            if hub is None:
                hub = self._hubs[self.name] = _Hub()
            return hub

    def publish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Hand a message to every current subscriber of ``exchange``."""
        properties = dict(message.properties)
        properties["delivery_info"] = {"exchange": exchange, "routing_key": routing_key}
        message = Message(
            message.body,
            message.content_type,
            message.content_encoding,
            message.headers,
            properties,
        )
        raw = dumps_envelope(message)
        hub = self._hub()
        with hub.lock:
            targets = [
                s
                for s in hub.subscribers
                if s.exchange == exchange and _matches(s.routing_key, routing_key)
            ]
        for subscription in targets:
            subscription.deliver(raw)

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Async twin of :meth:`publish_fanout` (it never blocks)."""
        self.publish_fanout(message, exchange, routing_key)

    async def subscribe_fanout(
        self, exchange: str, routing_key: str = "", *, queue: str | None = None
    ) -> Subscription:
        """Listen to ``exchange`` on the running loop."""
        hub = self._hub()
        subscription = _MemorySubscription(hub, exchange, routing_key)
        with hub.lock:
            hub.subscribers.add(subscription)
        return subscription

    def bind_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Bind a reply queue to a direct exchange."""
        hub = self._hub()
        with hub.lock:
            hub.bindings.setdefault(exchange, set()).add((routing_key, queue))
            hub.queues.setdefault(queue, deque())

    def publish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Append the message to every queue bound with ``routing_key``."""
        properties = dict(message.properties)
        properties["delivery_info"] = {"exchange": exchange, "routing_key": routing_key}
        message = Message(
            message.body,
            message.content_type,
            message.content_encoding,
            message.headers,
            properties,
        )
        raw = dumps_envelope(message)
        hub = self._hub()
        with hub.lock:
            names = {q for rk, q in hub.bindings.get(exchange, ()) if rk == routing_key}
            for name in names:
                hub.queues.setdefault(name, deque()).append(raw)
            if names:
                hub.arrived.notify_all()
        return len(names)

    async def apublish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Async twin of :meth:`publish_routed` (it never blocks)."""
        return self.publish_routed(message, exchange, routing_key)

    def pop_message(self, queue: str, timeout: float) -> Message | None:
        """Take the oldest message of ``queue``, waiting up to ``timeout`` seconds."""
        hub = self._hub()
        deadline = time.monotonic() + timeout
        with hub.lock:
            while True:
                items = hub.queues.get(queue)
                if items:
                    raw = items.popleft()
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                hub.arrived.wait(remaining)
        return loads_envelope(raw)

    def delete_queue(self, queue: str, exchange: str = "", routing_key: str = "") -> None:
        """Drop the queue's binding and its messages."""
        hub = self._hub()
        with hub.lock:
            hub.queues.pop(queue, None)
            bound = hub.bindings.get(exchange)
            if bound is not None:
                bound.discard((routing_key, queue))
