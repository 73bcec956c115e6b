"""Consuming: ``basic.consume`` per queue into local buffers that :meth:`fetch` takes from.

RabbitMQ pushes; the worker pulls: each consumer's messages land in its queue's buffer
and ``fetch(queues, limit, timeout)`` takes up to ``limit`` of them, earlier queues first.
``basic.qos`` bounds what RabbitMQ hands out unacked (buffered + being worked on) to the
worker's window: the prefetch is raised to what the worker asks for (its concurrency x
``worker_prefetch_multiplier``, plus async slots while async tasks arrive), never
beyond, so no message waits in one worker's buffer while another worker is idle.

A message's delivery count: the count this process gave it back with (see ``settle.py``),
else on quorum queues RabbitMQ's ``x-delivery-count`` + 1, else 2 when RabbitMQ flags it
``redelivered`` (a classic queue counts nothing more) and 1 when not. Over
``task_max_deliveries`` a message is dead-lettered, not returned.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from typing import Any

import aiormq.abc
from pamqp.commands import Basic

from celeriac.transports.amqp.lease import Lease
from celeriac.transports.amqp.link import LINK_ERRORS
from celeriac.transports.amqp.messages import from_amqp, identity
from celeriac.transports.amqp.settle import Held
from celeriac.transports.base import Delivery

__all__ = ["Consume"]

#: Seconds after (re)consuming or a requeue during which a fetch expects a backlog.
BURST_WINDOW = 0.5
#: Seconds without an arrival that end a batch while a backlog is expected.
BURST_IDLE = 0.01
#: Seconds the worker must ask for at most half of ``basic.qos`` before it is lowered.
PREFETCH_LOWER_AFTER = 30.0


class Consume(Lease):
    """Consumers, buffers and :meth:`fetch`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffers: dict[str, collections.deque[tuple[int, aiormq.abc.DeliveredMessage]]] = {}
        self._due: dict[str, collections.deque[Delivery]] = {}  # parked, now due
        self._consuming: dict[str, str] = {}  # queue -> consumer tag
        self._prefetch = 0
        #: the future a waiting fetch sleeps on; an arrival resolves it (one loop turn,
        #: where ``wait_for(event.wait())`` took three and a task)
        self._waiter: asyncio.Future[None] | None = None
        self._starting: asyncio.Future[bool] | None = None
        #: since when (monotonic) the worker asks for at most half the prefetch, and the
        #: most it asked for meanwhile
        self._low_since: float | None = None
        self._low_peak = 0
        self.prefetch_lower_after = PREFETCH_LOWER_AFTER

    # -- the hooks of the link ------------------------------------------------------
    async def on_connected(self) -> None:
        queues = list(self._consuming)
        self._consuming.clear()
        if queues:
            await self._consume(queues)
            self.log_resumed(queues)

    def on_lost(self) -> None:
        super().on_lost()
        for buffer in self._buffers.values():
            buffer.clear()  # RabbitMQ gives them back: the channel is gone
        self._due.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def hand_back(self, delivery: Delivery) -> None:
        self._due.setdefault(delivery.queue, collections.deque()).append(delivery)
        self._wake()

    # -- consuming ------------------------------------------------------------------
    def _callback(self, queue: str) -> Any:
        generation = self.generation
        buffer = self._buffers.setdefault(queue, collections.deque())

        def on_message(message: aiormq.abc.DeliveredMessage) -> None:
            if generation == self.generation:
                self._unacked[int(getattr(message.delivery, "delivery_tag", 0) or 0)] = None
                buffer.append((generation, message))
                self._wake()

        return on_message

    async def _consume(self, queues: Sequence[str]) -> None:
        ch = self._consume_ch
        assert ch is not None
        if self._prefetch:
            await ch.basic_qos(prefetch_count=self._prefetch)
        for queue in queues:
            if queue in self._consuming:
                continue
            spec = self.config.topology.queue(queue)
            await self.declare(spec)
            if spec.quorum:  # Celery sends countdowns to quorum queues through the delays
                await self.declare_delay(spec)
            ok = await ch.basic_consume(queue, self._callback(queue))
            self._consuming[queue] = str(ok.consumer_tag)
            self.expect_burst_until = time.monotonic() + BURST_WINDOW

    async def _fit_prefetch(self, wanted: int) -> None:
        """Fit ``basic.qos`` to what the worker's window asks for: raised at once, lowered
        once the worker asked for at most half of it for :data:`PREFETCH_LOWER_AFTER`
        seconds (async slots stop counting when async tasks stop arriving). A lower
        prefetch leaves what was delivered in the buffers; it binds what comes next."""
        wanted = min(max(1, wanted), 65535)
        if wanted > self._prefetch:
            self._low_since = None
            await self._set_prefetch(wanted)
            return
        if wanted * 2 > self._prefetch:
            self._low_since = None
            return
        now = time.monotonic()
        if self._low_since is None:
            self._low_since, self._low_peak = now, wanted
            return
        self._low_peak = max(self._low_peak, wanted)
        if now - self._low_since >= self.prefetch_lower_after:
            self._low_since = None
            await self._set_prefetch(self._low_peak)

    async def _set_prefetch(self, count: int) -> None:
        """``basic.qos`` of ``count``, and re-consume, since a qos binds new consumers."""
        self._prefetch = count
        ch = self._consume_ch
        if ch is None or not self._consuming:
            return
        await ch.basic_qos(prefetch_count=self._prefetch)
        queues = list(self._consuming)
        for queue, tag in list(self._consuming.items()):
            await ch.basic_cancel(tag)
            del self._consuming[queue]
        await self._consume(queues)

    async def _ready(self, queues: Sequence[str], limit: int) -> bool:
        if not await self.connect():
            return False
        try:
            await self._fit_prefetch(len(self._held) + limit)
            missing = [q for q in queues if q not in self._consuming]
            if missing:
                await self._consume(missing)
        except LINK_ERRORS:
            self._lost(None)
            return False
        return True

    # -- fetching -------------------------------------------------------------------
    def _take(self, queues: Sequence[str], limit: int) -> tuple[list[Delivery], list[Delivery]]:
        """Pop up to ``limit`` deliveries (no await: a cancelled fetch loses nothing)."""
        taken: list[Delivery] = []
        over: list[Delivery] = []
        for queue in queues:
            due = self._due.get(queue)
            while due and len(taken) < limit:
                taken.append(due.popleft())
            buffer = self._buffers.get(queue)
            while buffer and len(taken) < limit:
                generation, raw = buffer.popleft()
                delivery = self._delivery(queue, generation, raw)
                if delivery.delivery_count > self.options.max_deliveries:
                    over.append(delivery)
                else:
                    taken.append(delivery)
        return taken, over

    def _delivery(self, queue: str, generation: int, raw: aiormq.abc.DeliveredMessage) -> Delivery:
        props = raw.header.properties
        properties: dict[str, Any] = {
            "content_type": props.content_type,
            "content_encoding": props.content_encoding,
            "headers": props.headers or {},
            "delivery_mode": props.delivery_mode,
            "priority": props.priority,
            "correlation_id": props.correlation_id,
            "reply_to": props.reply_to,
            "expiration": props.expiration,
            "message_id": props.message_id,
        }
        deliver = raw.delivery
        redelivered = bool(getattr(deliver, "redelivered", False))
        message = from_amqp(
            raw.body,
            properties,
            exchange=str(raw.exchange or ""),
            routing_key=str(raw.routing_key or ""),
            redelivered=redelivered,
        )
        known = self._counts.pop(identity(message), None) if redelivered else None
        quorum_count = message.headers.get("x-delivery-count")
        if known is not None:
            count = known + 1
        elif quorum_count is not None:  # quorum queues count for us
            count = _count(quorum_count) + 1
        else:
            count = 2 if redelivered else 1
        message.properties["delivery_info"]["redelivered"] = count > 1
        number = int(getattr(deliver, "delivery_tag", 0) or 0)
        tag = f"{generation}.{number}"
        self._held[tag] = Held(
            generation,
            number,
            raw.body,
            properties,
            message.properties["delivery_info"]["exchange"],
            message.properties["delivery_info"]["routing_key"],
        )
        return Delivery(message, queue, tag, count)

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Take up to ``limit`` buffered messages, waiting up to ``timeout`` for the first."""
        deadline = time.monotonic() + timeout
        if limit <= 0:
            return []
        if timeout <= 0 and not self.connected:
            # A poll does not wait for a first connection: start it, report nothing yet.
            pending = self._starting
            if pending is None or pending.done():
                self._starting = asyncio.ensure_future(self._ready(queues, limit))
                return []
            await asyncio.shield(pending)
        while True:
            if not await self._ready(queues, limit):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                await asyncio.sleep(min(remaining, max(0.05, self._retry_at - time.monotonic())))
                continue
            await self._gather(queues, limit)
            taken, over = self._take(queues, limit)
            if over:
                await self._dead_letter_over(over, taken)
            if taken:
                return taken
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if timeout <= 0 and not over:
                    return await self._get_now(queues, limit)
                return []
            await self._wait_for_arrival(remaining)

    async def _wait_for_arrival(self, timeout: float) -> None:
        """Sleep until a message arrives, one is handed back, the link drops, or ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None

    async def _gather(self, queues: Sequence[str], limit: int) -> None:
        """Let frames already on their way land (a batch, not one message per fetch).

        Normally a few loop turns without a new arrival end the batch (no added latency);
        right after (re)consuming or giving messages back, when RabbitMQ is sending a
        backlog, up to :data:`BURST_IDLE` seconds without one do.
        """
        buffered = sum(len(self._buffers.get(q, ())) for q in queues)
        if not buffered:
            return
        burst = time.monotonic() < self.expect_burst_until
        idle_turns, last = 0, time.monotonic()
        for _ in range(4096):
            if buffered >= limit:
                return
            if burst and time.monotonic() - last >= BURST_IDLE:
                return
            if not burst and idle_turns >= 4:
                return
            await asyncio.sleep(0)
            now = sum(len(self._buffers.get(q, ())) for q in queues)
            if now > buffered:
                idle_turns, last = 0, time.monotonic()
            else:
                idle_turns += 1
            buffered = now

    async def _dead_letter_over(self, over: list[Delivery], taken: list[Delivery]) -> None:
        limit = self.options.max_deliveries
        reason = f"delivered {limit} times without an ack (task_max_deliveries={limit})"
        try:
            for delivery in over:
                await asyncio.shield(self.dead_letter(delivery, reason))
        except asyncio.CancelledError:
            for delivery in reversed(taken):  # give them back to the buffer, not to limbo
                self._unhold(delivery)
            raise

    def _unhold(self, delivery: Delivery) -> None:
        held = self._held.pop(delivery.tag, None)
        if held is None or held.generation != self.generation:
            return
        # Settle it at the broker: nack puts it back at its place in the queue.
        if delivery.message is not None:
            self._counts[identity(delivery.message)] = delivery.delivery_count - 1
        if self._consume_ch is not None:
            task = asyncio.ensure_future(self._settle_number(held.number, requeue=True))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _get_now(self, queues: Sequence[str], limit: int) -> list[Delivery]:
        """``fetch(timeout=0)`` with empty buffers: ask each queue once (``basic.get``)."""
        ch = self._consume_ch
        if ch is None:
            return []
        found: list[Delivery] = []
        generation = self.generation
        for queue in queues:
            while len(found) < limit:
                self._getting += 1
                try:
                    raw = await ch.basic_get(queue)
                except LINK_ERRORS:
                    return found
                finally:
                    self._getting -= 1
                if isinstance(raw.delivery, Basic.GetEmpty):
                    break
                if generation == self.generation:
                    self._unacked[int(getattr(raw.delivery, "delivery_tag", 0) or 0)] = None
                found.append(self._delivery(queue, generation, raw))
        if not found:
            taken, _ = self._take(queues, limit)
            return taken
        return found


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _count(value: object) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0
