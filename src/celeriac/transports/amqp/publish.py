"""Publishing task messages: where a message goes, persistent, with publisher confirms.

The target is Celery's: a message whose ``delivery_info`` names an exchange goes to that
exchange with its routing key; otherwise to the queue's exchange, or, for a queue on a
direct exchange, to the default exchange with the queue's name (Celery's shortcut). The
queue is declared first (once per connection), as Celery's producer declares it, so a
message to a queue no worker consumes yet is kept.

Sync callers publish through the py-amqp pool; a coroutine on the worker's own loop
through the worker's confirm channel; any other coroutine on a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import amqp

from celeriac.exceptions import QueueNotFound
from celeriac.protocol.message import Message
from celeriac.transports.amqp.consume import Consume
from celeriac.transports.amqp.delay import (
    DELAY_EXCHANGE,
    delay_routing_key,
    delay_seconds,
    delay_topology,
    queue_delay_bindings,
)
from celeriac.transports.amqp.messages import properties_of
from celeriac.transports.amqp.settle import basic_properties
from celeriac.transports.amqp.sync import SyncChannel, SyncPool
from celeriac.transports.amqp.topology import QueueSpec
from celeriac.transports.amqp.wire import FastMessage
from celeriac.transports.base import Delivery

__all__ = ["Publish"]


def _py_amqp_message(message: Message, priority: int) -> amqp.Message:
    properties = properties_of(message, priority=priority)
    headers = properties.pop("headers")
    return FastMessage(message.body, application_headers=headers, **properties)


class Publish(Consume):
    """``publish``, ``apublish``, ``publish_many``, ``publish_to_exchange`` and
    ``declare_queues``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: SyncPool | None = None
        self._declared_names: set[str] = set()
        #: id(queue object) -> (the object, its name): a queue declared before is skipped
        self._declared_objects: dict[int, tuple[object, str]] = {}

    @property
    def pool(self) -> SyncPool:
        """The producer connections (made on first use)."""
        if self._pool is None:
            self._pool = SyncPool(self.config)
        return self._pool

    def settle_publishes(self) -> None:
        """Wait for RabbitMQ's confirms of this process's publishes still unconfirmed, so
        that what this process published is in its queue (read-your-writes).

        Raises:
            BrokerError: some messages were not confirmed.
        """
        if self._pool is not None and self._pool.unconfirmed():
            self._pool.flush()

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """:meth:`Consume.fetch`, after this process's own publishes were confirmed."""
        self.settle_publishes()
        return await super().fetch(queues, limit, timeout)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`Settle.ack`, after this process's own publishes were confirmed: what a
        task published (its body's ``delay()`` calls, on the pipelined producer) is in
        RabbitMQ before the task's own message leaves it, so a worker killed in between
        runs the task again rather than losing what it sent."""
        if self._pool is not None and self._pool.unconfirmed():
            await asyncio.to_thread(self.settle_publishes)
        await super().ack(deliveries)

    def target(self, message: Message, queue: str) -> tuple[QueueSpec, str, str]:
        """``(queue spec, exchange, routing key)`` of a message stored on ``queue``: the
        default exchange with the queue's name, as ``WorkQueue.publish`` means it."""
        return self.config.topology.queue(queue), "", queue

    def declare_queues(self, queues: Sequence[object]) -> None:
        """Declare queues (kombu's attributes), their exchanges and bindings, once each."""
        topology = self.config.topology
        new: list[QueueSpec] = []
        for queue in queues:
            seen = self._declared_objects.get(id(queue))
            if seen is not None and seen[0] is queue and seen[1] in self._declared_names:
                continue  # the same queue object as before: every delay() sends one
            spec = topology.spec_of(queue)
            if not isinstance(queue, str):
                self._declared_objects[id(queue)] = (queue, spec.name)
            topology.queues[spec.name] = spec
            if spec.name not in self._declared_names:
                new.append(spec)
        if not new:
            return

        def declare(item: SyncChannel) -> None:
            for spec in new:
                item.declare(spec)

        self.pool.run(f"Declaring {', '.join(s.name for s in new)}", declare)
        self._declared_names.update(spec.name for spec in new)

    def _exchange_type(self, exchange: str) -> str | None:
        for spec in self.config.topology.queues.values():
            for binding in spec.bindings:
                if binding.exchange.name == exchange:
                    return binding.exchange.type
        return None

    def publish_to_exchange(
        self,
        message: Message,
        exchange: str,
        routing_key: str,
        *,
        priority: int = 0,
        eta: float | None = None,
    ) -> None:
        """Send to ``exchange``; RabbitMQ routes by ``routing_key`` (confirmed).

        Due a second or more from now through a topic, fanout or headers exchange, it
        waits in the delay queues and comes back through Celery's bindings of that
        exchange; through a direct exchange it goes now (the worker parks it by queue).
        """
        body = _py_amqp_message(message, priority)
        seconds = delay_seconds(eta)
        kind = self._exchange_type(exchange)
        bound = [
            spec
            for spec in self.config.topology.queues.values()
            if any(b.exchange.name == exchange for b in spec.bindings)
        ]

        def send(item: SyncChannel) -> None:
            for spec in bound:  # the queues task_queues binds to it exist before it routes
                item.declare(spec)
            target, key = exchange, routing_key
            if seconds and kind not in (None, "direct"):
                item.apply("delay", delay_topology(self.config.delay_queue_type))
                for spec in bound:
                    item.apply(f"delay:{spec.name}", queue_delay_bindings(spec))
                target, key = DELAY_EXCHANGE, delay_routing_key(seconds, routing_key)
                item.channel.basic_publish(body, exchange=target, routing_key=key)
                return
            returned: list[object] = []
            handlers = item.channel.events["basic_return"]
            handler = lambda *args: returned.append(args)  # noqa: E731
            handlers.add(handler)
            try:  # mandatory: RabbitMQ returns what no queue takes, and we say so
                item.channel.basic_publish(body, exchange=target, routing_key=key, mandatory=True)
            finally:
                handlers.discard(handler)
            if returned:
                raise QueueNotFound(
                    f"no queue is bound to exchange {exchange!r} ({kind or 'unknown type'}) "
                    f"with a binding matching routing key {routing_key!r}: RabbitMQ returned "
                    f"the message (declare a queue with that binding in task_queues)"
                )

        self.pool.run(f"Publishing to exchange {exchange!r}", send)

    async def apublish_to_exchange(
        self,
        message: Message,
        exchange: str,
        routing_key: str,
        *,
        priority: int = 0,
        eta: float | None = None,
    ) -> None:
        """Async twin of :meth:`publish_to_exchange` (on a thread)."""
        await asyncio.to_thread(
            self.publish_to_exchange, message, exchange, routing_key, priority=priority, eta=eta
        )

    def _sync_send(
        self, item: SyncChannel, message: Message, queue: str, priority: int, eta: float | None
    ) -> None:
        spec, exchange, routing_key = self.target(message, queue)
        body = _py_amqp_message(message, priority)
        item.declare(spec)
        seconds = delay_seconds(eta)
        if seconds:
            item.apply("delay", delay_topology(self.config.delay_queue_type))
            item.apply(f"delay:{spec.name}", queue_delay_bindings(spec))
            exchange, routing_key = DELAY_EXCHANGE, delay_routing_key(seconds, spec.name)
        item.publish(body, exchange, routing_key)

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Publish and wait for RabbitMQ's confirm (sync; any thread).

        A message due a second or more from now waits in the delay queues (``delay.py``).
        """

        def send(item: SyncChannel) -> None:
            self._sync_send(item, message, queue, priority, eta)

        self.pool.run(f"Publishing to {queue!r}", send)

    def publish_many(self, items: Sequence[tuple[Message, str, float | None]]) -> None:
        """Publish several messages on one pooled channel (each confirmed)."""

        def send(item: SyncChannel) -> None:
            for message, queue, eta in items:
                self._sync_send(item, message, queue, message.priority, eta)

        self.pool.run(f"Publishing {len(items)} messages", send)

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """On the worker's loop: its confirm channel; elsewhere: :meth:`publish` on a thread."""
        if not self.in_loop() or self._publish_ch is None:
            await asyncio.to_thread(self.publish, message, queue, priority=priority, eta=eta)
            return
        spec, exchange, routing_key = self.target(message, queue)
        await self.declare(spec)
        seconds = delay_seconds(eta)
        if seconds:
            await self.declare_delay(spec)
            exchange, routing_key = DELAY_EXCHANGE, delay_routing_key(seconds, spec.name)
        properties = properties_of(message, priority=priority)
        await self._publish_ch.basic_publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            properties=basic_properties(properties),
        )

    def close(self) -> None:
        """Close the producer connections."""
        if self._pool is not None:
            self._pool.close()

    async def aclose(self) -> None:
        """Close the worker's connection (unacked deliveries return to their queues)."""
        await self.disconnect()
