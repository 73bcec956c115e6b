"""Long tasks and RabbitMQ's ``consumer_timeout``: renewing a delivery before it runs out.

RabbitMQ closes the channel of a consumer that keeps a delivery unacked longer than
``consumer_timeout`` (30 minutes by default), and every message on that channel goes
back to its queue: a task running longer is run twice, and the worker loses its channel
(celery#6760). Per-queue ``x-consumer-timeout`` needs RabbitMQ 3.12.

celeriac renews such a delivery instead ("ack and lease"): once it has been held for
``consumer_timeout`` minus a margin, :meth:`renew` (which the worker calls while the task
runs) publishes a confirmed copy to this worker's hold queue ``celeriac.hold.<consumer>``
and takes it back at once with ``basic.get``, unacked, then acks the original. The copy
is a new delivery with a fresh timer. The hold queue's ``x-message-ttl`` (a few seconds)
dead-letters a copy that is *not* held back to the task's queue: if the worker dies, its
channel closes, the copy returns to the hold queue, expires and goes home, so the task
runs again elsewhere (at least once). Set ``broker_transport_options['consumer_timeout']``
to the server's value when it is not the default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from pamqp.commands import Basic

from celeriac.transports.amqp.link import LINK_ERRORS
from celeriac.transports.amqp.settle import Held, Settle, basic_properties
from celeriac.transports.amqp.topology import QueueSpec
from celeriac.transports.base import Delivery

__all__ = ["Lease"]

logger = logging.getLogger("celery.transports.amqp")

#: How long a copy may wait, not held, in a hold queue before it goes home (ms).
HOLD_TTL_MS = 5000


class Lease(Settle):
    """:meth:`renew` for deliveries about to reach ``consumer_timeout``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timeout = float(self.options.extra.get("consumer_timeout") or 1800.0)
        self.consumer_timeout = timeout
        #: seconds after which a held delivery is renewed
        self.lease_after = max(timeout * 0.5, timeout - min(120.0, timeout * 0.3))

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """From the inline runner's watchdog, while a short sync body blocks the loop.

        What the loop cannot do meanwhile is send heartbeats, so this writes one (RabbitMQ
        closes a connection that stays silent for two heartbeat intervals). A renewal
        before ``consumer_timeout`` needs the loop: a body that had proven short (see
        ``pools/inline.py``) and then runs past ``consumer_timeout`` on the loop thread
        is delivered again when RabbitMQ closes the channel.
        """
        if not self.heartbeat_blocking():
            logger.debug("No heartbeat written while a body blocks the loop")

    def _hold_queue(self, home: str) -> QueueSpec:
        """This worker's hold queue for tasks of ``home`` (the dead-letter key names it)."""
        return QueueSpec(
            self.config.own(f"celeriac.hold.{self.consumer_id}.{home}"),
            arguments={
                "x-message-ttl": HOLD_TTL_MS,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": home,
                "x-expires": int(max(self.consumer_timeout * 4, 600) * 1000),
            },
        )

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew the deliveries held for nearly ``consumer_timeout`` (see the module doc)."""
        now = time.monotonic()
        for delivery in deliveries:
            held = self._held.get(delivery.tag)
            if held is None or held.generation != self.generation:
                continue
            if now - held.since < self.lease_after:
                continue
            try:
                await self._renew_one(delivery, held)
            except LINK_ERRORS as exc:
                logger.warning("Renewing the delivery of %s failed: %r", delivery.tag, exc)

    async def _renew_one(self, delivery: Delivery, held: Held) -> None:
        ch, pub = self._consume_ch, self._publish_ch
        if ch is None or pub is None:
            return
        # One hold queue per worker and home queue: the dead-letter key names the home.
        hold = self._hold_queue(delivery.queue)
        hold = QueueSpec(f"{hold.name}.{delivery.queue}", arguments=hold.arguments)
        await self.declare(hold)
        await pub.basic_publish(
            held.body,
            exchange="",
            routing_key=hold.name,
            properties=basic_properties(held.properties),
        )
        generation = self.generation
        self._getting += 1
        try:
            copy = await ch.basic_get(hold.name)
        finally:
            self._getting -= 1
        if not isinstance(copy.delivery, Basic.GetOk):
            logger.warning("Renewing %s: the copy went home before it was taken", delivery.tag)
            return
        if generation != self.generation:
            return  # the connection went meanwhile: RabbitMQ requeued both
        self._unacked[int(copy.delivery.delivery_tag or 0)] = None
        await self._settle_number(held.number)
        renewed = Held(
            self.generation,
            int(copy.delivery.delivery_tag or 0),
            held.body,
            held.properties,
            held.exchange,
            held.routing_key,
        )
        self._held[delivery.tag] = renewed
        logger.info(
            "Renewed the delivery of %s before RabbitMQ's consumer_timeout (%.0f s)",
            delivery.tag,
            self.consumer_timeout,
        )
