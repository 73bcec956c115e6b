"""Producer connections (py-amqp, blocking): a pool of ``broker_pool_limit`` channels.

Why py-amqp for the sync side: a producer (``delay()`` in a web request, a thread, beat)
must not need an event loop, and a blocking client sends a publish and reads its confirm
in one thread with no hand-off; measured on one core it publishes with confirms faster
than handing each publish to a background asyncio loop (see ``docs/brokers.md``). It is
also what Celery's ``pyamqp://`` uses, so the bytes on the wire are kombu's.

Every pooled channel is in confirm mode (``confirm_publish``): :meth:`SyncPool.publish`
returns once RabbitMQ has the message, or raises :class:`BrokerError`. A connection
that fails is dropped and the next broker of the failover list is tried once; the app's
``retry_policy`` decides what happens after that.
"""

from __future__ import annotations

import atexit
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import amqp
import amqp.exceptions

from celeriac.exceptions import BrokerError
from celeriac.transports.amqp.confirms import MAX_RESENDS, Confirms, ConfirmWatcher, Sent, readable
from celeriac.transports.amqp.delay import Declaration
from celeriac.transports.amqp.options import AMQPOptions
from celeriac.transports.amqp.topology import QueueSpec
from celeriac.transports.amqp.urls import Address, failover_cycle
from celeriac.transports.amqp.wire import publish_frames
from celeriac.utils.log import own_logger

__all__ = ["CONNECTION_ERRORS", "SyncChannel", "SyncPool", "connect_sync"]

logger = own_logger(__name__)

T = TypeVar("T")

#: Failures after which a connection is dropped (and the next broker tried).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    ConnectionError,
    OSError,
    socket.timeout,
)


def connect_sync(
    address: Address, options: AMQPOptions, *, confirm: bool, heartbeat: float = 0
) -> amqp.Connection:
    """An open py-amqp connection to ``address`` (no heartbeats by default: producers idle)."""
    conn = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.userid,
        password=address.password,
        virtual_host=address.vhost,
        ssl=options.tls or False,
        connect_timeout=options.connect_timeout,
        heartbeat=heartbeat,
        confirm_publish=confirm,
        client_properties={"product": "celeriac"},
    )
    conn.connect()
    return conn


class SyncChannel:
    """One connection and its channel, with the queues it declared.

    With ``pipelined`` the channel is in confirm mode and :attr:`confirms` tracks what
    RabbitMQ has not confirmed yet (``confirms.py``); :attr:`lock` is held by whoever
    reads from or writes to the connection (a producer, or the confirm watcher).
    """

    def __init__(self, conn: amqp.Connection, address: Address, *, pipelined: bool = False):
        self.conn = conn
        self.address = address
        self.lock = threading.Lock()
        self.declared: set[str] = set()
        self.dead = False
        self.confirms: Confirms | None = None
        self.raw: Any = None
        self.channel: Any = None
        self._open_channel(pipelined)

    def _open_channel(self, pipelined: bool) -> None:
        self.raw = self.channel = self.conn.channel()
        if pipelined:  # the connection confirms every other channel's publishes in turn
            self.raw.confirm_select()
            self.raw._confirm_selected = True
            self.confirms = Confirms(self.raw)
            self.channel = _Strict(self)

    def reopen(self) -> None:
        """A fresh channel after a channel error closed the old one."""
        self._open_channel(self.confirms is not None)

    def publish(self, body: amqp.Message, exchange: str, routing_key: str) -> None:
        """``basic.publish``; on a pipelined channel the message counts as unconfirmed."""
        self.send(Sent(body, exchange, routing_key))

    def send(self, sent: Sent) -> None:
        """Publish ``sent`` (again) and count it as unconfirmed on a pipelined channel.

        A pipelined channel writes the frames itself (``wire.publish_frames``, one
        ``sendall``): py-amqp's publish would first poll the socket for a
        ``connection.blocked``, which the confirm reader takes in anyway.
        """
        if self.confirms is None:
            self.raw.basic_publish(sent.body, exchange=sent.exchange, routing_key=sent.routing_key)
            return
        conn = self.conn
        if not self.raw.connection or conn.transport is None:
            raise amqp.exceptions.RecoverableConnectionError("basic_publish: connection closed")
        frames = publish_frames(
            self.raw.channel_id, sent.exchange, sent.routing_key, sent.body, conn.frame_max
        )
        conn.transport.write(frames)
        conn.bytes_sent += 1
        self.confirms.sent(sent)

    def collect(self, wait: float | None = 0.0, *, below: int = 1) -> None:
        """Read the confirms that arrived; wait up to ``wait`` seconds (None: for ever)
        until fewer than ``below`` messages are unconfirmed."""
        confirms = self.confirms
        if confirms is None:
            return
        deadline = None if wait is None else time.monotonic() + wait
        while confirms.pending:
            remaining = 5.0 if deadline is None else deadline - time.monotonic()
            blocking = len(confirms.pending) >= below and remaining > 0
            if not readable(self.conn, remaining if blocking else 0.0):
                if not blocking:
                    return
                continue
            self.conn.drain_events(timeout=max(1.0, self.conn.connect_timeout or 1.0))

    def declare(self, spec: QueueSpec) -> None:
        """Declare a queue, its exchanges and bindings once per connection (as kombu does)."""
        if spec.name in self.declared:
            return
        ch = self.channel
        for binding in spec.bindings:
            exchange = binding.exchange
            if exchange.declarable:
                ch.exchange_declare(
                    exchange.name,
                    exchange.type,
                    durable=exchange.durable,
                    auto_delete=exchange.auto_delete,
                    arguments=dict(exchange.arguments or {}) or None,
                )
        ch.queue_declare(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=dict(spec.arguments) or None,
        )
        for binding in spec.bindings:
            if binding.exchange.name:
                ch.queue_bind(
                    spec.name,
                    binding.exchange.name,
                    binding.routing_key,
                    arguments=dict(binding.arguments or {}) or None,
                )
        self.declared.add(spec.name)

    def apply(self, key: str, declarations: Iterable[Declaration]) -> None:
        """Run ``declarations`` once per connection (remembered under ``key``)."""
        if key in self.declared:
            return
        ch = self.channel
        for step in declarations:
            if step.kind == "exchange":
                ch.exchange_declare(step.name, "topic", durable=True, auto_delete=False)
            elif step.kind == "queue":
                ch.queue_declare(
                    step.name,
                    durable=True,
                    exclusive=False,
                    auto_delete=False,
                    arguments=step.arguments,
                )
            elif step.kind == "queue_bind":
                ch.queue_bind(step.name, step.source, step.routing_key)
            else:
                ch.exchange_bind(step.name, step.source, step.routing_key)
        self.declared.add(key)

    def close(self) -> None:
        """Close the connection, ignoring a dead socket."""
        try:
            self.conn.close()
        except Exception:  # already gone
            pass


class _Strict:
    """A pipelined item's channel for callers that use it directly (remote control,
    locks, exchanges): ``basic_publish`` returns once RabbitMQ confirmed the message,
    or raises ``MessageNacked``, as on a connection in confirm mode."""

    def __init__(self, item: SyncChannel) -> None:
        self._item = item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._item.raw, name)

    def basic_publish(self, body: amqp.Message, *args: Any, **kwargs: Any) -> Any:
        item = self._item
        assert item.confirms is not None
        result = item.raw._basic_publish(body, *args, **kwargs)  # not py-amqp's wait
        sent = Sent(body, "", "", strict=True)
        item.confirms.sent(sent)
        item.collect(None)
        if sent in item.confirms.nacked:
            item.confirms.nacked.remove(sent)
            raise amqp.exceptions.MessageNacked()
        return result


class SyncPool:
    """Up to ``broker_pool_limit`` producer connections shared by every thread.

    With confirms pipelined (``confirm_window`` > 1, see ``confirms.py``) a publish
    returns once written, and the pool sees every message confirmed or published again.
    """

    def __init__(self, options: AMQPOptions, *, confirm: bool | None = None) -> None:
        self.options = options
        self.confirm = options.confirm_publish if confirm is None else confirm
        self.window = max(1, options.confirm_window)
        self.pipelined = self.confirm and self.window > 1
        #: a producer reads confirms itself once this many are unconfirmed
        self._read_at = max(1, min(64, self.window // 2))
        self._idle: queue.LifoQueue[SyncChannel] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(options.pool_limit)
        self._lock = threading.Lock()
        self._order = failover_cycle(options.addresses, options.failover_strategy)
        self._closed = False
        self._items: set[SyncChannel] = set()
        self._resend: list[Sent] = []
        self._failed: list[Sent] = []
        self._resend_at = 0.0
        self._watcher = ConfirmWatcher(self._tick)
        self._pid = os.getpid()  # a forked child never reads the parent's sockets
        if self.pipelined:
            _POOLS.add(self)

    def _connect(self) -> SyncChannel:
        errors: list[str] = []
        # Confirm mode on the connection: a channel opened on it for one operation (dead
        # letters, admin) waits for each of its confirms; the pool's pipelined channel
        # publishes without py-amqp's wait and reads its confirms itself.
        strict = self.confirm
        for _ in range(len(self.options.addresses)):
            with self._lock:
                address = next(self._order)
            try:
                conn = connect_sync(address, self.options, confirm=strict)
                item = SyncChannel(conn, address, pipelined=self.pipelined)
            except CONNECTION_ERRORS as exc:
                errors.append(f"{address.redacted}: {exc or type(exc).__name__}")
                continue
            with self._lock:
                self._items.add(item)
            return item
        raise BrokerError(f"Cannot connect to {'; '.join(errors)}")

    def _take(self) -> SyncChannel:
        while True:
            try:
                item = self._idle.get_nowait()
            except queue.Empty:
                return self._connect()
            if not item.dead:
                return item

    @contextmanager
    def channel(self) -> Iterator[SyncChannel]:
        """A pooled channel for one operation; a failed connection is not put back."""
        self._slots.acquire()
        try:
            item = self._take()
            with item.lock:
                try:
                    yield item
                except CONNECTION_ERRORS:
                    self._lost(item)
                    raise
                except amqp.exceptions.ChannelError:
                    self._unsettled(item)
                    try:
                        item.reopen()
                    except CONNECTION_ERRORS:
                        self._lost(item)
                        raise
                    self._idle.put(item)
                    raise
                except BaseException:
                    if item.conn.connected and not item.dead:
                        self._idle.put(item)
                    else:
                        self._lost(item)
                    raise
                else:
                    if not item.dead:
                        self._idle.put(item)
        finally:
            self._slots.release()

    def run(self, what: str, call: Callable[[SyncChannel], T]) -> T:
        """Run ``call`` on a pooled channel; a stale connection is replaced once.

        Raises:
            BrokerError: the broker cannot be reached, refused the operation, or did not
                confirm a publish.
        """
        for attempt in (1, 2):
            try:
                with self.channel() as item:
                    result = call(item)
                    if item.confirms is not None:
                        self._after(item)
                    return result
            except CONNECTION_ERRORS as exc:
                if attempt == 2:
                    raise BrokerError(f"{what} failed: {exc or type(exc).__name__}") from exc
            except amqp.exceptions.MessageNacked as exc:
                raise BrokerError(f"{what}: RabbitMQ did not confirm the message") from exc
            except amqp.exceptions.AMQPError as exc:
                raise BrokerError(f"{what} refused by RabbitMQ: {exc}") from exc
        raise AssertionError("unreachable")

    # -- pipelined confirms (confirms.py) ------------------------------------------------
    def _after(self, item: SyncChannel) -> None:
        """After a publish: send what waits to go again, read the confirms that arrived
        (waiting while ``window`` messages are unconfirmed). What fails from here on is
        the pool's to publish again: the caller's publish succeeded."""
        assert item.confirms is not None
        if len(item.confirms.pending) < self._read_at and not self._resend:
            self._watcher.wake()  # few unconfirmed: read them in a batch, or when idle
            return
        with self._lock:
            resend, self._resend = self._resend, []
        try:
            for sent in resend:
                item.send(sent)
            item.collect(None, below=self.window)
        except CONNECTION_ERRORS:
            self._lost(item)
        except amqp.exceptions.ChannelError:
            self._unsettled(item)
            item.dead = True
            item.close()
        self._nacked(item)
        if item.confirms.pending or self._resend:
            self._watcher.wake()

    def _unsettled(self, item: SyncChannel) -> None:
        if item.confirms is not None:
            left = item.confirms.take_unsettled()
            if left:
                with self._lock:
                    self._resend.extend(left)

    def _lost(self, item: SyncChannel) -> None:
        """``item``'s connection failed: what it had unconfirmed goes again elsewhere."""
        item.dead = True
        self._unsettled(item)
        with self._lock:
            self._items.discard(item)
        item.close()

    def _nacked(self, item: SyncChannel) -> None:
        confirms = item.confirms
        if confirms is None or not confirms.nacked:
            return
        nacked, confirms.nacked = confirms.nacked, []
        with self._lock:
            for sent in nacked:
                sent.resends += 1
                if sent.resends > MAX_RESENDS:
                    logger.error(
                        "RabbitMQ did not confirm the message of task %s (%d attempts)",
                        sent.task_id,
                        sent.resends,
                    )
                    self._failed.append(sent)
                else:
                    self._resend.append(sent)

    def _collect(self, item: SyncChannel, wait: float | None) -> None:
        try:
            item.collect(wait)
        except CONNECTION_ERRORS:
            self._lost(item)
        except amqp.exceptions.ChannelError:
            self._unsettled(item)
            item.dead = True
            item.close()
        self._nacked(item)

    def _tick(self) -> bool:
        """The watcher's round: confirms of idle connections, then what to send again."""
        busy = False
        with self._lock:
            items = [
                i for i in self._items if i.confirms and (i.confirms.pending or i.confirms.nacked)
            ]
        for item in items:
            if not item.lock.acquire(blocking=False):
                busy = True  # a producer has it and reads its confirms
                continue
            try:
                if not item.dead:
                    self._collect(item, 0.0)
            finally:
                item.lock.release()
            busy = busy or bool(item.confirms and item.confirms.pending)
        if self._resend and time.monotonic() >= self._resend_at:
            try:
                self.run("Publishing unconfirmed messages again", lambda item: None)
            except BrokerError as exc:
                self._resend_at = time.monotonic() + 1.0
                logger.warning("%s; trying again in 1 s", exc)
        return busy or bool(self._resend)

    def unconfirmed(self) -> bool:
        """True while some message published here waits for its confirm (or to go again)."""
        if not self.pipelined:
            return False
        if self._resend:
            return True
        return any(item.confirms and item.confirms.pending for item in list(self._items))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until RabbitMQ confirmed every message published through this pool.

        Raises:
            BrokerError: some messages were not confirmed (they were logged).
        """
        if not self.pipelined or os.getpid() != self._pid:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                items = [i for i in self._items if i.confirms and i.confirms.pending]
            for item in items:
                with item.lock:
                    if not item.dead:
                        self._collect(item, max(0.0, deadline - time.monotonic()))
            if self._resend:
                try:
                    self.run("Publishing unconfirmed messages again", lambda item: None)
                except BrokerError:
                    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            elif not items:
                break
        with self._lock:
            failed, self._failed = self._failed, []
            lost = len(self._resend) + sum(
                len(i.confirms.pending) for i in self._items if i.confirms
            )
        if failed or lost:
            ids = ", ".join(sent.task_id for sent in failed[:10])
            raise BrokerError(
                f"RabbitMQ did not confirm {len(failed) + lost} message(s)"
                + (f" (tasks {ids})" if ids else "")
            )

    def close(self) -> None:
        """Wait for the confirms still due, then close every idle connection."""
        if self.pipelined and not self._closed:
            try:
                self.flush(timeout=10.0)
            except BrokerError as exc:
                logger.error("%s", exc)
        self._closed = True
        self._watcher.close()
        while True:
            try:
                item = self._idle.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self._items.discard(item)
            item.close()
        self._closed = False


#: Pipelined pools of this process, flushed when it exits.
_POOLS: weakref.WeakSet[SyncPool] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for pool in list(_POOLS):
        try:
            pool.flush(timeout=10.0)
        except BrokerError as exc:
            logger.error("At exit: %s", exc)
