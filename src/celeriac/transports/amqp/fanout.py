"""Remote control on AMQP, as kombu's ``Mailbox`` declares it (Celery's pidbox).

* Requests: the fanout exchange ``celery.pidbox`` (not durable); each worker consumes its
  queue ``<node>.celery.pidbox`` bound to it with ``""`` (not durable, exclusive,
  auto-delete, ``x-message-ttl`` = ``control_queue_ttl``, ``x-expires`` =
  ``control_queue_expires``, in ms). The worker's subscription lives on its consuming
  connection: when that connection is lost the worker stops answering ``ping`` until it
  consumes again, so a ping tests "still consuming", not "process alive".
* Replies: the direct exchange ``reply.celery.pidbox`` (not durable); the client's queue
  ``<oid>.reply.celery.pidbox`` is bound with its oid and has the same flags. It is
  exclusive, so the client keeps one connection of its own from ``bind_queue`` to
  ``delete_queue`` (closing it deletes the queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiormq.abc
import amqp

from celeriac.protocol.message import Message
from celeriac.transports.amqp.admin import Admin
from celeriac.transports.amqp.messages import from_amqp, from_py_amqp, properties_of
from celeriac.transports.amqp.settle import basic_properties
from celeriac.transports.amqp.sync import SyncChannel, connect_sync
from celeriac.transports.base import Subscription

__all__ = ["Fanout"]


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name)
    return default if value is None else float(value)


class _Subscription(Subscription):
    """A worker's mailbox queue on its consuming connection."""

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self.channel = channel
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def on_message(self, raw: aiormq.abc.DeliveredMessage) -> None:
        props = raw.header.properties
        properties = {
            "content_type": props.content_type,
            "content_encoding": props.content_encoding,
            "headers": props.headers or {},
            "delivery_mode": props.delivery_mode,
            "priority": props.priority,
            "correlation_id": props.correlation_id,
            "reply_to": props.reply_to,
        }
        message = from_amqp(
            raw.body,
            properties,
            exchange=str(raw.exchange or ""),
            routing_key=str(raw.routing_key or ""),
            redelivered=False,
        )
        info = message.properties["delivery_info"]  # as kombu's fanout gives it
        message.properties["delivery_info"] = {
            "exchange": info["exchange"],
            "routing_key": info["routing_key"],
        }
        self.messages.put_nowait(message)

    async def get(self, timeout: float) -> Message | None:
        if self.messages.empty() and self.channel.is_closed:
            raise ConnectionError("the broker connection of the mailbox is gone")
        try:
            return await asyncio.wait_for(self.messages.get(), timeout)
        except TimeoutError:
            if self.channel.is_closed:
                raise ConnectionError("the broker connection of the mailbox is gone") from None
            return None

    async def aclose(self) -> None:
        if not self.channel.is_closed:
            try:
                await self.channel.close()
            except Exception:  # the connection went first
                pass


class _ReplyQueue:
    """A client's exclusive reply queue, on a connection of its own."""

    def __init__(self, item: SyncChannel, queue: str) -> None:
        self.item = item
        self.queue = queue
        self.received: list[Message] = []
        self.consuming = False

    def pop(self, timeout: float) -> Message | None:
        if not self.consuming:
            self.item.channel.basic_consume(self.queue, callback=self._on_message, no_ack=True)
            self.consuming = True
        deadline = time.monotonic() + timeout
        while not self.received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self.item.conn.drain_events(timeout=remaining)
            except TimeoutError:
                return None
        return self.received.pop(0)

    def _on_message(self, raw: Any) -> None:
        message = from_py_amqp(raw, queue=self.queue)
        info = message.properties["delivery_info"]  # as kombu's reply queues give it
        message.properties["delivery_info"] = {
            "exchange": info["exchange"],
            "routing_key": info["routing_key"],
        }
        self.received.append(message)


class Fanout(Admin):
    """:class:`~celeriac.transports.contracts.Broadcast` on kombu's pidbox entities."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.options.settings
        self._control_args = {
            "x-message-ttl": int(_seconds(settings, "control_queue_ttl", 300.0) * 1000),
            "x-expires": int(_seconds(settings, "control_queue_expires", 10.0) * 1000),
        }
        self._control_exclusive = bool(settings.get("control_queue_exclusive", True))
        self._control_durable = bool(settings.get("control_queue_durable", False))
        self._event_args = {
            "x-message-ttl": int(_seconds(settings, "event_queue_ttl", 5.0) * 1000),
            "x-expires": int(_seconds(settings, "event_queue_expires", 60.0) * 1000),
        }
        self._event_exclusive = bool(settings.get("event_queue_exclusive", True))
        self._event_durable = bool(settings.get("event_queue_durable", False))
        self._replies: dict[str, _ReplyQueue] = {}

    @staticmethod
    def _kind(exchange: str) -> tuple[str, bool]:
        """``(type, durable)`` of a broadcast exchange as Celery declares it: the pidbox
        exchanges are non-durable fanouts, the event exchange a durable topic."""
        return ("fanout", False) if exchange.endswith(".pidbox") else ("topic", True)

    # -- requests -------------------------------------------------------------------
    def publish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Publish a request to the fanout exchange (declared as kombu's Mailbox does)."""
        properties = properties_of(message, persistent=True)
        headers = properties.pop("headers")

        kind, durable = self._kind(exchange)

        def send(item: SyncChannel) -> None:
            if f"exchange:{exchange}" not in item.declared:
                item.channel.exchange_declare(exchange, kind, durable=durable, auto_delete=False)
                item.declared.add(f"exchange:{exchange}")
            body = amqp.Message(message.body, application_headers=headers, **properties)
            item.channel.basic_publish(body, exchange=exchange, routing_key=routing_key)

        self.pool.run(f"Broadcasting to {exchange!r}", send)

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Async twin of :meth:`publish_fanout`."""
        await asyncio.to_thread(self.publish_fanout, message, exchange, routing_key)

    async def subscribe_fanout(
        self, exchange: str, routing_key: str = "", *, queue: str | None = None
    ) -> Subscription:
        """Consume the worker's mailbox queue on the consuming connection."""
        if not await self.connect() or self._conn is None:
            raise ConnectionError("no connection to RabbitMQ")
        channel = await self._conn.channel(publisher_confirms=False)
        kind, durable = self._kind(exchange)
        await channel.exchange_declare(exchange, exchange_type=kind, durable=durable)
        name = queue or ""
        control = kind == "fanout"
        queue_durable = self._control_durable if control else self._event_durable
        exclusive = self._control_exclusive if control else self._event_exclusive
        ok = await channel.queue_declare(
            name,
            durable=queue_durable,
            exclusive=exclusive or not name,
            auto_delete=not queue_durable,
            arguments=dict(self._control_args if control else self._event_args),
        )
        name = str(ok.queue)
        await channel.queue_bind(name, exchange, routing_key=routing_key)
        subscription = _Subscription(channel)
        await channel.basic_consume(name, subscription.on_message, no_ack=True)
        return subscription

    # -- replies ------------------------------------------------------------------
    def bind_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Declare the client's reply queue on a connection of its own, bound to ``exchange``."""
        item = SyncChannel(
            connect_sync(self.config.addresses[0], self.config, confirm=False),
            self.config.addresses[0],
        )
        try:
            item.channel.exchange_declare(exchange, "direct", durable=False, auto_delete=False)
            item.channel.queue_declare(
                queue,
                durable=self._control_durable,
                exclusive=self._control_exclusive,
                auto_delete=not self._control_durable,
                arguments=dict(self._control_args),
            )
            item.channel.queue_bind(queue, exchange, routing_key)
        except Exception:
            item.close()
            raise
        self._replies[queue] = _ReplyQueue(item, queue)

    def publish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Publish a reply to ``exchange`` with ``routing_key`` (mandatory: 0 when no queue
        is bound with it and RabbitMQ returned it, else 1)."""
        properties = properties_of(message, persistent=False)
        headers = properties.pop("headers")

        def send(item: SyncChannel) -> int:
            returned: list[object] = []
            item.channel.exchange_declare(exchange, "direct", durable=False, auto_delete=False)
            body = amqp.Message(message.body, application_headers=headers, **properties)
            handlers = item.channel.events["basic_return"]
            handler = lambda *args: returned.append(args)  # noqa: E731
            handlers.add(handler)
            try:
                item.channel.basic_publish(
                    body, exchange=exchange, routing_key=routing_key, mandatory=True
                )
            finally:
                handlers.discard(handler)
            return 0 if returned else 1

        return self.pool.run(f"Replying to {exchange!r}", send)

    async def apublish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """On the worker's loop: its confirm channel; elsewhere a thread."""
        ch = self._publish_ch
        if not self.in_loop() or ch is None:
            return await asyncio.to_thread(self.publish_routed, message, exchange, routing_key)
        if f"exchange:{exchange}" not in self._declared:
            await ch.exchange_declare(exchange, exchange_type="direct", durable=False)
            self._declared.add(f"exchange:{exchange}")
        properties = properties_of(message, persistent=False)
        await ch.basic_publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            properties=basic_properties(properties),
        )
        return 1

    def pop_message(self, queue: str, timeout: float) -> Message | None:
        """The next reply of the client's queue, waiting up to ``timeout`` seconds."""
        reply = self._replies.get(queue)
        return None if reply is None else reply.pop(timeout)

    def delete_queue(self, queue: str, exchange: str = "", routing_key: str = "") -> None:
        """Drop the reply queue: closing its connection deletes it (it is exclusive)."""
        reply = self._replies.pop(queue, None)
        if reply is None:
            return
        try:
            reply.item.channel.queue_delete(queue)
        except Exception:  # the connection is gone: so is the exclusive queue
            pass
        reply.item.close()
