"""The worker's connection (aiormq): connect with failover and backoff, notice a loss, say so.

A worker holds one connection with two channels: one consumes (``basic.qos`` bounds the
unacked messages RabbitMQ hands it), one publishes with confirms (retries, dead letters,
replies). Every connection has a *generation*: a delivery tag is only meaningful on the
channel that delivered it, so settling a delivery of an earlier generation does nothing
(RabbitMQ gave the message back when that channel closed).

Each failed attempt logs one line with the next delay (``Cannot connect to
amqp://guest@localhost:5672/%2F: Connection refused. Trying again in 2.0 s``), a lost
connection one line, and the recovery one line. Nothing here blocks longer than the
connect timeout, so a worker stops on a signal while the broker is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import aiormq
import aiormq.abc
import aiormq.connection
import aiormq.exceptions

from celeriac.transports.amqp.delay import Declaration, delay_topology, queue_delay_bindings
from celeriac.transports.amqp.options import AMQPOptions
from celeriac.transports.amqp.topology import QueueSpec
from celeriac.transports.amqp.urls import Address, failover_cycle
from celeriac.transports.base import Transport, TransportOptions

__all__ = ["AMQPLink", "LINK_ERRORS"]

logger = logging.getLogger("celery.transports.amqp")

#: An AMQP heartbeat frame (type 8, channel 0, empty payload, frame end).
HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0

#: Failures that mean the connection (or channel) is gone.
LINK_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.ChannelClosed,
    ConnectionError,
    OSError,
    RuntimeError,
    asyncio.TimeoutError,
)

#: Failures of a connection attempt.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*LINK_ERRORS, aiormq.exceptions.AMQPError)


class AMQPLink(Transport):
    """What the worker-side modules share: the options and the live connection."""

    schemes = ("amqp", "amqps", "pyamqp", "librabbitmq")
    crosses_processes = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self.config = AMQPOptions.parse(url, self.options)
        self._consumer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._order = failover_cycle(self.config.addresses, self.config.failover_strategy)
        self._conn: aiormq.abc.AbstractConnection | None = None
        self._consume_ch: aiormq.abc.AbstractChannel | None = None
        self._publish_ch: aiormq.abc.AbstractChannel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._address: Address | None = None
        self.generation = 0
        self._retry_at = 0.0
        self._delay = BACKOFF_START
        self._down_since: float | None = None
        self._declared: set[str] = set()
        self._connecting: asyncio.Lock | None = None
        #: the plain-TCP stream of the live connection (``renew_blocking`` writes to it)
        self._wire: asyncio.StreamWriter | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.addresses[0].redacted}>"

    @property
    def consumer_id(self) -> str:
        """``host:pid:random``: this worker's name on its consumer tags."""
        return self._consumer_id

    @property
    def connected(self) -> bool:
        """True while the worker's connection and channels are open."""
        return (
            self._conn is not None
            and not self._conn.is_closed
            and self._consume_ch is not None
            and not self._consume_ch.is_closed
        )

    def in_loop(self) -> bool:
        """True when called on the loop that owns the connection (and it is open)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return running is self._loop and self.connected

    # -- connecting ---------------------------------------------------------------
    async def connect(self) -> bool:
        """Make sure the connection is up; False when it is down and not due for a retry."""
        if self.connected:
            return True
        if self._connecting is None or self._loop is not asyncio.get_running_loop():
            self._connecting = asyncio.Lock()
            self._loop = asyncio.get_running_loop()
        async with self._connecting:
            if self.connected:
                return True
            if self._conn is not None:
                self._lost(None)
            if time.monotonic() < self._retry_at:
                return False
            address = next(self._order)
            try:
                await asyncio.wait_for(self._open(address), self.config.connect_timeout + 1)
            except CONNECT_ERRORS as exc:
                await self._drop()
                self._failed(address, exc)
                return False
            self._restored(address)
            await self.on_connected()
            return True

    async def _open(self, address: Address) -> None:
        conn = aiormq.Connection(address.aiormq_url(self.config.heartbeat), context=self.config.tls)
        self._wire = None
        factory = getattr(conn, "_transport_factory", None)
        if isinstance(factory, aiormq.connection.TCPTransportFactory):
            conn._transport_factory = _Recording(factory, self._on_wire)  # type: ignore[assignment]
        await conn.connect({"product": "celeriac", "connection_name": self._consumer_id})
        self._conn = conn
        self._address = address
        self._consume_ch = await conn.channel(publisher_confirms=False)
        self._publish_ch = await conn.channel(publisher_confirms=self.config.confirm_publish)
        self.generation += 1
        self._declared = set()

    def _on_wire(self, writer: asyncio.StreamWriter) -> None:
        self._wire = writer

    def heartbeat_blocking(self) -> bool:
        """Write one heartbeat frame from another thread while the loop is blocked.

        Only on a plain TCP connection with nothing half-written in the transport's
        buffer (a frame then cannot be split); True when it was written.
        """
        wire = self._wire
        if wire is None or self._conn is None:
            return False
        transport = wire.transport
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            return os.write(sock.fileno(), HEARTBEAT_FRAME) == len(HEARTBEAT_FRAME)
        except OSError:
            return False

    def _failed(self, address: Address, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._delay = BACKOFF_START
        else:
            self._delay = min(self._delay * 2, BACKOFF_MAX)
        delay = self._delay * random.uniform(0.8, 1.2)
        self._retry_at = time.monotonic() + delay
        logger.warning(
            "Cannot connect to %s: %s. Trying again in %.1f s",
            address.redacted,
            str(exc) or type(exc).__name__,
            delay,
        )

    def _restored(self, address: Address) -> None:
        if self._down_since is not None:
            logger.warning(
                "Connected to %s again after %.1f s",
                address.redacted,
                time.monotonic() - self._down_since,
            )
        self._down_since = None
        self._delay = BACKOFF_START
        self._retry_at = 0.0

    def _lost(self, exc: BaseException | None) -> None:
        """Note a dropped connection (one log line) and forget it."""
        conn, self._conn = self._conn, None
        self._consume_ch = self._publish_ch = None
        if conn is not None and self._address is not None and self._down_since is None:
            reason = exc
            if reason is None and conn.closing.done() and not conn.closing.cancelled():
                reason = conn.closing.exception()
            logger.warning(
                "Connection to %s lost (%s); reconnecting",
                self._address.redacted,
                str(reason) if reason else "closed",
            )
            self._down_since = time.monotonic()
        self.on_lost()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._consume_ch = self._publish_ch = None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken
                pass

    async def on_connected(self) -> None:
        """Hook: (re)declare and (re)consume after a new connection."""

    def on_lost(self) -> None:
        """Hook: forget what lived on the lost connection."""

    def log_resumed(self, queues: list[str]) -> None:
        """One line: consuming again after a reconnection."""
        address = self._address.redacted if self._address else "?"
        logger.warning("Consuming from %s on %s again", ", ".join(queues), address)

    async def disconnect(self) -> None:
        """Close the worker's connection (deliveries not acked go back to their queues)."""
        await self._drop()

    # -- declaring ----------------------------------------------------------------
    async def declare(self, spec: QueueSpec) -> None:
        """Declare a queue, its exchanges and bindings once per connection, as kombu does."""
        if spec.name in self._declared:
            return
        ch = self._publish_ch
        assert ch is not None, "declare needs a connection"
        for binding in spec.bindings:
            exchange = binding.exchange
            if exchange.declarable:
                await ch.exchange_declare(
                    exchange.name,
                    exchange_type=exchange.type,
                    durable=exchange.durable,
                    auto_delete=exchange.auto_delete,
                    arguments=_table(exchange.arguments),
                )
        await ch.queue_declare(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=_table(spec.arguments),
        )
        for binding in spec.bindings:
            if binding.exchange.name:
                await ch.queue_bind(
                    spec.name,
                    binding.exchange.name,
                    routing_key=binding.routing_key,
                    arguments=_table(binding.arguments),
                )
        self._declared.add(spec.name)

    async def apply(self, key: str, declarations: Iterable[Declaration]) -> None:
        """Run ``declarations`` once per connection (remembered under ``key``)."""
        if key in self._declared:
            return
        ch = self._publish_ch
        assert ch is not None, "declare needs a connection"
        for step in declarations:
            if step.kind == "exchange":
                await ch.exchange_declare(step.name, exchange_type="topic", durable=True)
            elif step.kind == "queue":
                await ch.queue_declare(step.name, durable=True, arguments=step.arguments)
            elif step.kind == "queue_bind":
                await ch.queue_bind(step.name, step.source, routing_key=step.routing_key)
            else:
                await ch.exchange_bind(step.name, step.source, routing_key=step.routing_key)
        self._declared.add(key)

    async def declare_delay(self, spec: QueueSpec) -> None:
        """The delay topology and the bindings that bring ``spec``'s delayed messages home."""
        await self.apply("delay", delay_topology(self.config.delay_queue_type))
        await self.apply(f"delay:{spec.name}", queue_delay_bindings(spec))


class _Recording:
    """aiormq's TCP transport factory, telling ``sink`` the stream it opened."""

    def __init__(self, inner: Any, sink: Callable[[asyncio.StreamWriter], None]) -> None:
        self.inner = inner
        self.sink = sink

    async def create(
        self, url: Any, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self.inner.create(url, **kwargs)
        self.sink(writer)
        return reader, writer


def _table(arguments: Any) -> dict[str, Any] | None:
    return dict(arguments) if arguments else None
