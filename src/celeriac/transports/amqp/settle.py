"""Settling deliveries: ack, requeue (counted or not), dead-letter with a reason.

* ``ack``: ``basic.ack`` on the channel that delivered the message; a batch whose
  delivery tags are all below every other tag still unsettled on the channel goes as one
  ``basic.ack`` with ``multiple`` (see :meth:`Settle.ack`).
* ``requeue``: ``basic.nack`` with requeue, so the message goes back to its place. A
  classic queue only flags the next delivery ``redelivered``, so this process remembers
  the count it gave back (0 for ``count=False``: a shutdown giving back unstarted work);
  quorum queues count themselves (``x-delivery-count``).
* ``dead_letter``: a copy with ``x-celeriac-reason``, ``-queue`` and ``-dead-at``
  headers goes to ``celeriac.dead_letters`` (or to the queue's own
  ``x-dead-letter-exchange``), confirmed, then the original is acked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pamqp.commands import Basic

from celeriac.transports.amqp.delay import DELAY_EXCHANGE, delay_routing_key, delay_seconds
from celeriac.transports.amqp.link import LINK_ERRORS, AMQPLink
from celeriac.transports.amqp.messages import DEAD_AT, DEAD_QUEUE, DEAD_REASON, identity
from celeriac.transports.amqp.options import DEAD_LETTER_QUEUE
from celeriac.transports.amqp.topology import QueueSpec
from celeriac.transports.base import Delivery

__all__ = ["Held", "Settle", "basic_properties", "dead_letters_spec"]

logger = logging.getLogger("celery.transports.amqp")


def dead_letters_spec(name: str) -> QueueSpec:
    """The dead-letter queue: durable, no exchange of its own (the default exchange)."""
    return QueueSpec(name)


_PROPERTY_NAMES = (
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
)


def basic_properties(properties: Mapping[str, Any]) -> Basic.Properties:
    """aiormq's properties object from a dict of basic property names."""
    return Basic.Properties(
        **{name: properties[name] for name in _PROPERTY_NAMES if properties.get(name) is not None}
    )


@dataclass(slots=True)
class Held:
    """A delivery not yet settled: what settling it needs."""

    generation: int
    number: int
    body: bytes
    properties: dict[str, Any]
    exchange: str
    routing_key: str
    #: monotonic time RabbitMQ handed out the delivery now held (``lease.py`` renews it)
    since: float = field(default_factory=time.monotonic)


class Settle(AMQPLink):
    """Deliveries held by this worker and the ways to let go of them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[str, Held] = {}
        self._counts: dict[str, int] = {}
        self._parked: dict[str, Held] = {}
        #: delivery tags of the consume channel not settled yet (a tag leaves once its
        #: ack/nack frame is queued for writing)
        self._unacked: dict[int, None] = {}
        #: ``basic.get`` calls in flight: their tag is not known yet
        self._getting = 0
        #: until when (monotonic) a fetch expects RabbitMQ to be sending a backlog
        self.expect_burst_until = 0.0

    def on_lost(self) -> None:
        self._held.clear()  # their tags died with the channel; RabbitMQ requeued them
        self._parked.clear()
        self._unacked.clear()
        self._getting = 0

    def lease_lost(self, delivery: Delivery) -> bool:
        """True when ``delivery``'s channel is gone (RabbitMQ requeued it): the
        :class:`~celeriac.transports.contracts.ChannelLeases` capability."""
        held = self._held.get(delivery.tag)
        if held is None or held.generation != self.generation:
            return True
        # The close may not have been noticed yet (it is, at the next use of the link):
        # the channel says so at once.
        channel = self._consume_ch
        return channel is None or channel.is_closed

    def _floor(self, settling: set[int]) -> int | None:
        """The lowest tag still unsettled on the channel that is not in ``settling``."""
        # min(), not the first: a basic.get's tag may be noted after later deliveries'
        return min((number for number in self._unacked if number not in settling), default=None)

    async def _settle_number(self, number: int, *, requeue: bool | None = None) -> None:
        """Ack (``requeue`` None) or nack one delivery tag; it stops counting as unsettled
        once its frame is written."""
        ch = self._consume_ch
        if ch is None:
            return
        if requeue is None:
            await ch.basic_ack(number)
        else:
            await ch.basic_nack(number, requeue=requeue)
        self._unacked.pop(number, None)

    def _current(self, delivery: Delivery) -> Held | None:
        held = self._held.pop(delivery.tag, None)
        if held is None or held.generation != self.generation or self._consume_ch is None:
            return None
        return held

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """``basic.ack`` the deliveries (those of a lost connection were requeued already).

        The tags below every other tag still unsettled on the channel (and none of them
        while a ``basic.get`` is in flight, whose tag is not known yet) go as one
        ``basic.ack`` with ``multiple``; the others one by one. A tag stays unsettled
        until its frame is queued for writing, so no ack overtakes a concurrent nack.
        """
        ch = self._consume_ch
        numbers: list[int] = []
        for delivery in deliveries:
            held = self._current(delivery)
            if held is not None and ch is not None:
                numbers.append(held.number)
        if not numbers or ch is None:
            return
        numbers.sort()
        frames: list[tuple[int, bool]] = []
        if len(numbers) > 1 and not self._getting:
            floor = self._floor(set(numbers))
            below = numbers if floor is None else [n for n in numbers if n < floor]
            if len(below) > 1:
                frames.append((below[-1], True))
                numbers = numbers[len(below) :]
        frames.extend((number, False) for number in numbers)
        last = len(frames) - 1
        try:
            for n, (number, multiple) in enumerate(frames):  # the last waits for the write
                await ch.basic_ack(number, multiple=multiple, wait=n == last)
        except LINK_ERRORS as exc:
            logger.debug("acks lost with the connection: %r", exc)
            return
        unacked = self._unacked
        for number, multiple in frames:
            if multiple:  # every unsettled tag up to it was in this batch
                for tag in [tag for tag in unacked if tag <= number]:
                    del unacked[tag]
            else:
                unacked.pop(number, None)

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Give deliveries back: in place and uncounted, or counted (see the module doc)."""
        ch = self._consume_ch
        self.expect_burst_until = time.monotonic() + 0.5
        last = len(deliveries) - 1
        for n, delivery in enumerate(deliveries):
            held = self._current(delivery)
            if held is None or ch is None:
                continue
            if delivery.message is not None:
                # In place (nack keeps the position); this process remembers the count,
                # since a classic queue only flags "redelivered".
                self._counts[identity(delivery.message)] = delivery.delivery_count if count else 0
            try:
                await ch.basic_nack(held.number, requeue=True, wait=n == last)
            except LINK_ERRORS as exc:
                logger.debug("requeue of %s lost with the connection: %r", delivery.tag, exc)
                continue
            self._unacked.pop(held.number, None)  # its frame is queued: nothing overtakes it

    async def _republish(
        self, held: Held, exchange: str, routing_key: str, headers: Mapping[str, Any]
    ) -> None:
        ch = self._publish_ch
        if ch is None:
            raise ConnectionError("no connection to RabbitMQ")
        properties = basic_properties({**held.properties, "headers": dict(headers)})
        await ch.basic_publish(
            held.body, exchange=exchange, routing_key=routing_key, properties=properties
        )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a copy with the reason in the dead-letter queue, then ack the original."""
        held = self._current(delivery)
        if held is None:
            return
        spec = self.config.topology.queue(delivery.queue)
        headers = {
            **held.properties.get("headers", {}),
            DEAD_REASON: reason,
            DEAD_QUEUE: delivery.queue,
            DEAD_AT: int(time.time() * 1000),
        }
        exchange = spec.arguments.get("x-dead-letter-exchange")
        try:
            if exchange is not None:
                key = spec.arguments.get("x-dead-letter-routing-key") or held.routing_key
                await self._republish(held, str(exchange), str(key), headers)
            else:
                dead = self.config.own(DEAD_LETTER_QUEUE)
                await self.declare(dead_letters_spec(dead))
                await self._republish(held, "", dead, headers)
            if held.generation == self.generation:
                await self._settle_number(held.number)
        except LINK_ERRORS as exc:
            logger.warning(
                "Dead-lettering %s failed (%r); it will be delivered again", delivery.tag, exc
            )
        logger.warning("Dead-lettered a message of %s: %s", delivery.queue, reason)

    async def defer(self, delivery: Delivery, eta: float) -> bool:
        """Park a delivery until ``eta``: in the delay queues when a second or more away
        (a confirmed copy, then ack), else here until due, still unacked."""
        held = self._held.get(delivery.tag)
        if held is None or held.generation != self.generation or self._consume_ch is None:
            return False
        seconds = delay_seconds(eta)
        if not seconds:
            loop = asyncio.get_running_loop()
            self._held.pop(delivery.tag)
            self._parked[delivery.tag] = held
            loop.call_later(max(0.0, eta - time.time()), self._unpark, delivery)
            return True
        spec = self.config.topology.queue(delivery.queue)
        await self.declare_delay(spec)
        headers = held.properties.get("headers") or {}
        await self._republish(held, DELAY_EXCHANGE, delay_routing_key(seconds, spec.name), headers)
        self._held.pop(delivery.tag, None)
        if held.generation == self.generation:
            await self._settle_number(held.number)
        return True

    def _unpark(self, delivery: Delivery) -> None:
        held = self._parked.pop(delivery.tag, None)
        if held is None or held.generation != self.generation:
            return  # the connection went: RabbitMQ delivers it again
        self._held[delivery.tag] = held
        self.hand_back(delivery)

    def hand_back(self, delivery: Delivery) -> None:
        """Hook: make a held delivery fetchable again (the consumer's buffers)."""

    async def recover(self, consumer_id: str, *, running: object = None) -> int:
        """0: RabbitMQ requeues a dead consumer's messages itself when its channel closes."""
        return 0
