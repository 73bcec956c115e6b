"""EventDispatcher: sends Celery's monitoring events to the ``celeryev`` exchange.

Events are fire-and-forget broadcasts (:class:`~celeriac.transports.contracts.Broadcast`):
on Redis a ``PUBLISH`` on ``/<db>.celeryev/<routing key>``, on SQLite and ``memory://``
their broadcast tables. A dispatcher bound to an event loop (:meth:`bind_loop`, what the
worker does) buffers the groups in ``buffer_group`` (``task``) and publishes what one loop
turn gathered as one ``task.multi`` message, like Celery's worker: the task's path never
waits for the broker. Other events, and every event of an unbound dispatcher (a producer's
``task-sent``, the prefork parent's heartbeats), are published at once.

A failed publish is logged (once per burst) and dropped: monitoring must never stop work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from celeriac.events.applike import EventsApp
from celeriac.protocol.events import (
    Event,
    build_event_message,
    event,
    group_from,
    routing_key_for,
    utcoffset,
)
from celeriac.transports.base import Transport
from celeriac.transports.contracts import Broadcast

__all__ = ["EventDispatcher", "anon_nodename"]

logger = logging.getLogger("celery.events")

#: A failed publish is logged at most once per this many seconds.
ERROR_LOG_INTERVAL = 30.0


def anon_nodename() -> str:
    """``gen<pid>@<host>``: the node name of a process that is not a worker."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


class EventDispatcher:
    """Sends events for one node (Celery's ``app.events.Dispatcher``).

    Args:
        app: the app (settings, clock and broker).
        hostname: the sender's node name; ``gen<pid>@<host>`` when omitted.
        enabled: False makes :meth:`send` a no-op until :meth:`enable`.
        groups: send only these groups (``["worker"]`` without ``-E``); None: all.
        transport: the broker to publish on (default: the app's).
        buffer_group: groups batched into ``<group>.multi`` messages once a loop is bound.
        buffer_limit: a batch is published as soon as it holds this many events.
        buffer_window: seconds a batch may wait for more events (0: until the end of the
            loop turn, like Celery's worker).
    """

    def __init__(
        self,
        app: EventsApp,
        hostname: str | None = None,
        *,
        enabled: bool = True,
        groups: Iterable[str] | None = None,
        transport: Transport | None = None,
        buffer_group: Iterable[str] = (),
        buffer_limit: int = 24,
        buffer_window: float = 0.0,
        serializer: str | None = None,
    ) -> None:
        self.app = app
        self.hostname = hostname or anon_nodename()
        self.groups: set[str] = set(groups or ())
        self.buffer_group = frozenset(buffer_group)
        self.buffer_limit = buffer_limit
        self.buffer_window = buffer_window
        conf = app.conf
        self.serializer = serializer or str(conf.event_serializer or "json")
        self.exchange = str(conf.event_exchange or "celeryev")
        self.clock = app.clock
        self.pid = os.getpid()
        self._transport = transport
        self._offset = utcoffset()
        self._offset_checked = time.time()
        self._group_of: dict[str, str] = {}
        self._buffers: dict[str, list[Event]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        #: batches leave one at a time, in order (a receiver sees received before started)
        self._in_order: asyncio.Lock | None = None
        self._flush_scheduled = False
        #: batches being published on the loop (a sync close publishes the unfinished again)
        self._pending: dict[asyncio.Task[None], tuple[list[Event], str]] = {}
        self._last_error = 0.0
        #: called after :meth:`enable` / :meth:`disable` (the heartbeat starts and stops)
        self.on_enabled: set[Callable[[], None]] = set()
        self.on_disabled: set[Callable[[], None]] = set()
        self.enabled = False
        if enabled:
            self.enable()

    # -- switching -----------------------------------------------------------------------
    @property
    def transport(self) -> Transport:
        """The broker events are published on."""
        return self._transport if self._transport is not None else self.app.transport

    def enable(self) -> None:
        """Start sending (a broker without broadcast leaves the dispatcher disabled)."""
        if not isinstance(self.transport, Broadcast):
            logger.warning("Events disabled: %s cannot broadcast", type(self.transport).__name__)
            return
        self.enabled = True
        for callback in list(self.on_enabled):
            callback()

    def disable(self) -> None:
        """Stop sending (buffered events are dropped)."""
        if self.enabled:
            self.enabled = False
            with self._lock:
                self._buffers.clear()
            for callback in list(self.on_disabled):
                callback()

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Batch the buffered groups on ``loop`` (the running loop when omitted)."""
        self._loop = loop or asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._in_order = asyncio.Lock()

    # -- building ------------------------------------------------------------------------
    def _utcoffset(self) -> float:
        now = time.time()
        if now - self._offset_checked > 60.0:  # follow DST changes without a syscall per event
            self._offset, self._offset_checked = utcoffset(), now
        return self._offset

    def event(self, type_: str, fields: dict[str, Any], *, blind: bool = False) -> Event:
        """The event dict this dispatcher would send (forwards the clock unless ``blind``)."""
        return event(
            type_,
            fields,
            hostname=self.hostname,
            pid=self.pid,
            clock=None if blind else self.clock.forward(),
            offset=self._utcoffset(),
        )

    def _wanted(self, type_: str) -> str | None:
        if not self.enabled:
            return None
        group = group_from(type_)
        if self.groups and group not in self.groups:
            return None
        return group

    # -- sending -------------------------------------------------------------------------
    def send(self, type_: str, *, blind: bool = False, **fields: Any) -> None:
        """Send an event (``send('task-succeeded', uuid=…, result=…, runtime=…)``).

        Buffered groups are batched on the bound loop; everything else is published now,
        from whatever thread calls.
        """
        if not self.enabled:
            return
        group = self._group_of.get(type_)
        if group is None:
            group = self._group_of[type_] = group_from(type_)
        if self.groups and group not in self.groups:
            return
        # event() inlined (the task path sends three per task): Celery's key order
        now = time.time()
        if now - self._offset_checked > 60.0:
            self._offset, self._offset_checked = utcoffset(), now
        body = {
            "hostname": self.hostname,
            "utcoffset": self._offset,
            "pid": self.pid,
            "clock": None if blind else self.clock.forward(),
            **fields,
            "timestamp": now,
            "type": type_,
        }
        if group in self.buffer_group and self._loop is not None:
            self._buffer(group, body)
        else:
            self._publish_now(body, routing_key_for(type_))

    async def asend(self, type_: str, *, blind: bool = False, **fields: Any) -> None:
        """Publish an event now from a coroutine (never batched)."""
        group = self._wanted(type_)
        if group is None:
            return
        body = self.event(type_, fields, blind=blind)
        await self._apublish(body, routing_key_for(type_))

    def _buffer(self, group: str, body: Event) -> None:
        with self._lock:
            buffer = self._buffers.setdefault(group, [])
            buffer.append(body)
            full = len(buffer) >= self.buffer_limit
            schedule = not self._flush_scheduled
            self._flush_scheduled = True
        loop = self._loop
        if loop is None or not (schedule or full):
            return
        on_loop = threading.get_ident() == self._loop_thread
        try:
            if full:
                if on_loop:
                    self._flush_on_loop()
                else:
                    loop.call_soon_threadsafe(self._flush_on_loop)
            elif self.buffer_window <= 0:
                (loop.call_soon if on_loop else loop.call_soon_threadsafe)(self._flush_on_loop)
            elif on_loop:
                loop.call_later(self.buffer_window, self._flush_on_loop)
            else:
                loop.call_soon_threadsafe(loop.call_later, self.buffer_window, self._flush_on_loop)
        except RuntimeError:  # the loop is closed
            pass

    def _take_batches(self) -> list[tuple[str, list[Event]]]:
        with self._lock:
            self._flush_scheduled = False
            batches = [(group, events) for group, events in self._buffers.items() if events]
            self._buffers = {}
        return batches

    def _flush_on_loop(self) -> None:
        loop = self._loop
        for group, events in self._take_batches():
            if loop is None:
                self._publish_now(events, f"{group}.multi")
                continue
            routing_key = f"{group}.multi"
            task = loop.create_task(self._apublish_in_order(events, routing_key))
            self._pending[task] = (events, routing_key)
            task.add_done_callback(self._forget)

    async def _apublish_in_order(self, events: list[Event], routing_key: str) -> None:
        if self._in_order is None:
            await self._apublish(events, routing_key)
            return
        async with self._in_order:
            await self._apublish(events, routing_key)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._pending.pop(task, None)

    def flush(self) -> None:
        """Publish what is buffered now (sync; any thread)."""
        for group, events in self._take_batches():
            self._publish_now(events, f"{group}.multi")

    async def aflush(self) -> None:
        """Publish what is buffered, and wait for every publish in flight."""
        for group, events in self._take_batches():
            await self._apublish(events, f"{group}.multi")
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _message(self, body: Event | list[Event]) -> Any:
        return build_event_message(body, hostname=self.hostname, serializer=self.serializer)

    def _publish_now(self, body: Event | list[Event], routing_key: str) -> None:
        transport = self.transport
        if not isinstance(transport, Broadcast):
            return
        try:
            transport.publish_fanout(self._message(body), self.exchange, routing_key)
        except Exception as exc:
            self._failed(exc)

    async def _apublish(self, body: Event | list[Event], routing_key: str) -> None:
        transport = self.transport
        if not isinstance(transport, Broadcast):
            return
        try:
            await transport.apublish_fanout(self._message(body), self.exchange, routing_key)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error >= ERROR_LOG_INTERVAL:
            self._last_error = now
            logger.warning("Sending events failed (dropped): %r", exc)

    def close(self) -> None:
        """Publish what is buffered, and batches still in flight on the loop, now (sync).

        For a consumer that stops: its loop may not run the publishes it started, so they
        are cancelled and sent again here (a receiver may see such a batch twice).
        """
        for task, (events, routing_key) in list(self._pending.items()):
            if not task.done():
                task.cancel()
                self._publish_now(events, routing_key)
        self._pending.clear()
        self.flush()

    async def aclose(self) -> None:
        """Publish what is buffered, wait for publishes in flight, and stop."""
        await self.aflush()

    def __enter__(self) -> EventDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
