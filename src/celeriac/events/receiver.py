"""EventReceiver: listens to the ``celeryev`` exchange and hands each event to a handler.

``app.events.Receiver(connection, handlers={"*": state.event}).capture()`` works as in
Celery; ``async for event in receiver`` is the asyncio form. Like Celery's receiver it
subscribes with binding key ``#`` under the queue name ``celeryev.<uuid>``, asks every
worker for a heartbeat once it listens (``wakeup``), unpacks ``task.multi`` batches, takes
each event's Lamport clock in, moves ``timestamp`` into this host's time zone and adds
``local_received``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from celeriac.events.applike import EventsApp
from celeriac.exceptions import ContentDisallowed, DecodeError
from celeriac.protocol.events import Event, adjust_timestamp, parse_event_message, utcoffset
from celeriac.transports.base import Subscription, Transport
from celeriac.transports.contracts import Broadcast, unsupported

__all__ = ["EventReceiver", "Handler"]

logger = logging.getLogger("celery.events")

#: A handler takes one event dict.
Handler = Callable[[Event], object]

#: Clients never take part in clock sync: a ``task-sent`` gets the receiver's clock - 1.
CLIENT_CLOCK_SKEW = -1
#: Longest single wait on the subscription, so ``should_stop`` is seen promptly (seconds).
POLL = 1.0


class EventReceiver:
    """Capture events (Celery's ``app.events.Receiver``).

    Args:
        app: the app (settings, clock, remote control for the wake-up).
        connection: the broker to listen on; a fresh transport of the app when omitted.
        handlers: event type → handler; ``"*"`` takes every type without its own.
        routing_key: the binding key (``#``: everything; ``worker.#``: worker events).
        node_id: the id in the queue name ``<event_queue_prefix>.<node_id>``.
    """

    def __init__(
        self,
        app: EventsApp,
        connection: Transport | None = None,
        handlers: Mapping[str, Handler] | None = None,
        routing_key: str = "#",
        node_id: str | None = None,
        queue_prefix: str | None = None,
        accept: list[str] | None = None,
    ) -> None:
        self.app = app
        conf = app.conf
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.routing_key = routing_key
        self.node_id = node_id or str(uuid.uuid4())
        prefix = queue_prefix or str(conf.event_queue_prefix or "celeryev")
        self.queue = f"{prefix}.{self.node_id}"
        self.exchange = str(conf.event_exchange or "celeryev")
        self.accept = accept if accept is not None else sorted({str(conf.event_serializer), "json"})
        self.clock = app.clock
        self.should_stop = False
        #: set once the receiver listens (events published from then on arrive)
        self.consuming = threading.Event()
        self._connection = connection
        self._owned: Transport | None = None
        self._here = utcoffset()

    # -- per event -----------------------------------------------------------------------
    def process(self, type_: str, event: Event) -> None:
        """Hand ``event`` to the handler of its type, else to ``"*"``."""
        handler = self.handlers.get(type_) or self.handlers.get("*")
        if handler is not None:
            handler(event)

    def event_from_message(self, body: Event, localize: bool = True) -> tuple[str, Event]:
        """Take the event's clock in, localize its timestamp, add ``local_received``."""
        type_ = str(body["type"])
        if type_ == "task-sent":
            skewed = body["clock"] = (self.clock.value or 1) + CLIENT_CLOCK_SKEW
            self.clock.adjust(skewed)
        else:
            clock = body.get("clock")
            if isinstance(clock, int):
                self.clock.adjust(clock)
            else:
                body["clock"] = self.clock.forward()
        if localize:
            offset, timestamp = body.get("utcoffset"), body.get("timestamp")
            if isinstance(offset, int | float) and isinstance(timestamp, int | float):
                body["timestamp"] = adjust_timestamp(timestamp, offset, self._here)
        body["local_received"] = time.time()
        return type_, body

    # -- listening -----------------------------------------------------------------------
    def _transport(self) -> Broadcast:
        transport = self._connection
        if transport is None:
            transport = self._owned = self.app.new_transport()
        if not isinstance(transport, Broadcast):
            raise unsupported(transport, "Broadcast")
        return transport

    async def _subscribe(self) -> Subscription:
        return await self._transport().subscribe_fanout(
            self.exchange, self.routing_key, queue=self.queue
        )

    async def _release(self, subscription: Subscription) -> None:
        try:
            await subscription.aclose()
        finally:
            owned, self._owned = self._owned, None
            if owned is not None and owned is not self.app.transport:
                try:
                    await owned.aclose()
                except Exception as exc:  # closing must not hide the capture's own error
                    logger.debug("closing the event connection failed: %r", exc)

    def wakeup_workers(self) -> None:
        """Ask every worker for a heartbeat now (control command ``heartbeat``, no reply)."""
        try:
            self.app.control.broadcast("heartbeat", connection=self._connection)
        except Exception as exc:
            logger.warning("Could not wake the workers up: %r", exc)

    def _decode(self, message: Any) -> list[Event]:
        try:
            return parse_event_message(message, self.accept)
        except (DecodeError, ContentDisallowed) as exc:
            logger.warning("Ignoring an event message: %s", exc)
            return []

    async def _events(
        self, subscription: Subscription, timeout: float | None
    ) -> AsyncIterator[Event]:
        idle = 0.0
        while not self.should_stop:
            wait = POLL if timeout is None else max(0.0, min(POLL, timeout - idle))
            message = await subscription.get(wait)
            if message is None:
                idle += wait
                if timeout is not None and idle >= timeout:
                    raise TimeoutError(f"no event within {timeout} s")
                continue
            idle = 0.0
            for body in self._decode(message):
                yield self.event_from_message(body)[1]

    async def aitercapture(
        self, limit: int | None = None, timeout: float | None = None, wakeup: bool = True
    ) -> AsyncGenerator[Event, None]:
        """Yield events as they arrive (each also goes to its handler).

        Args:
            limit: stop after this many events (None: never).
            timeout: raise :class:`TimeoutError` when no event came for this many seconds.
            wakeup: ask the workers for a heartbeat once subscribed.
        """
        subscription = await self._subscribe()
        self.consuming.set()
        try:
            if wakeup:
                await asyncio.to_thread(self.wakeup_workers)
            count = 0
            async for event in self._events(subscription, timeout):
                self.process(str(event["type"]), event)
                yield event
                count += 1
                if limit is not None and count >= limit:
                    return
        finally:
            self.consuming.clear()
            await self._release(subscription)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.aitercapture()

    async def acapture(
        self, limit: int | None = None, timeout: float | None = None, wakeup: bool = True
    ) -> None:
        """Async twin of :meth:`capture`."""
        async for _ in self.aitercapture(limit, timeout, wakeup):
            pass

    def itercapture(
        self, limit: int | None = None, timeout: float | None = None, wakeup: bool = True
    ) -> Iterator[Event]:
        """Sync generator over :meth:`aitercapture` (on an event loop of its own).

        Raises:
            RuntimeError: called from a running event loop (use :meth:`aitercapture`).
        """
        _refuse_running_loop("itercapture", "aitercapture")
        loop = asyncio.new_event_loop()
        events = self.aitercapture(limit, timeout, wakeup)
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(events))
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(events.aclose())
            loop.close()

    def capture(
        self, limit: int | None = None, timeout: float | None = None, wakeup: bool = True
    ) -> None:
        """Handle events until ``limit`` events, :attr:`should_stop`, or ``timeout`` idle
        seconds (then :class:`TimeoutError`, like Celery's ``socket.timeout``)."""
        for _ in self.itercapture(limit, timeout, wakeup):
            pass


def _refuse_running_loop(name: str, twin: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{name}() blocks: inside an event loop use {twin}() instead")
