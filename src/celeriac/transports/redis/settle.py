"""Settling leases on Redis: ack, requeue, dead-letter, defer, and renewal (also from a thread).

``renew`` moves the leases' ``unacked_index`` scores to now (``ZADD XX``), so a live
worker's long task is never restored (kombu#337); only a dead worker's messages come
back after ``visibility_timeout``. ``defer`` parks a message that came more than a couple
of seconds early (a Celery producer's ETA task) in its queue's ETA set, uncounted; LEASE
moves it back to the front of its list when due, for any consumer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis

from celeriac.protocol.envelope import dumps_envelope
from celeriac.transports.base import Delivery
from celeriac.transports.redis.connection import Pipeline
from celeriac.transports.redis.keys import RAW_TAG_PREFIX
from celeriac.transports.redis.records import ScriptArg, task_of
from celeriac.transports.redis.restore import DEAD_LETTER_MAXLEN, RedisRestore

__all__ = ["RedisSettling"]


class RedisSettling(RedisRestore):
    """Ack, requeue, dead-letter, defer and renew, each one script or pipeline per call.

    :meth:`renew_blocking` (the :class:`~celeriac.transports.contracts.BlockingRenewal`
    capability) sends the same ``ZADD XX`` on the producer-side (sync) client, for the
    watchdog thread that renews the lease of a sync body running on the loop's thread.
    """

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Forget settled messages: one ACK script call (HDEL/ZREM) for the whole batch."""
        if not deliveries:
            return
        tags = [d.tag for d in deliveries]
        state = self._loop_state()
        keys = self.keys.settle_keys

        async def run() -> None:
            for start in range(0, len(tags), 1000):
                await state.ack(keys=keys, args=tags[start : start + 1000])

        await self._retrying("ack", run)
        self._held.difference_update(tags)

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Put leased messages back at the front of their queue (see :meth:`Transport.requeue`)."""
        if not deliveries:
            return
        state = self._loop_state()
        await self._retrying("requeue", lambda: self._requeue(state, deliveries, count=count))

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in ``celeriac.dead_letters`` with a reason, and drop its lease."""
        if delivery.raw is not None:
            raw = delivery.raw
        elif delivery.message is not None:
            raw = dumps_envelope(delivery.message)
        else:
            raw = b""
        task_id, task_name = task_of(raw, delivery.message)
        state = self._loop_state()
        args: list[ScriptArg] = [
            delivery.tag,
            reason,
            repr(time.time()),
            raw,
            task_id,
            task_name,
            delivery.queue,
            DEAD_LETTER_MAXLEN,
            delivery.delivery_count,
        ]
        await self._retrying(
            "dead_letter", lambda: state.dead_letter(keys=self.keys.dead_letter_keys, args=args)
        )
        self._held.discard(delivery.tag)

    async def defer(self, delivery: Delivery, eta: float) -> bool:
        """Move a leased message to its queue's ETA set until ``eta`` (uncounted).

        LEASE moves it back to the front of its list when due, for any consumer,
        Celery's included.
        """
        if delivery.tag.startswith(RAW_TAG_PREFIX):
            return False
        state = self._loop_state()
        keys = self.keys.defer_keys(delivery.queue)
        args = [delivery.tag, repr(eta), self.consumer_id]
        done = await self._retrying("defer", lambda: state.defer(keys=keys, args=args))
        if done:
            self._held.discard(delivery.tag)
        return bool(done)

    def _queue_renewals(self, pipe: Pipeline, deliveries: Sequence[Delivery]) -> None:
        """Queue the ``ZADD XX`` that moves the leases' scores to now on a pipeline."""
        now = time.time()
        scores = {d.tag: now + n * 1e-6 for n, d in enumerate(deliveries)}
        envelope = {t: s for t, s in scores.items() if not t.startswith(RAW_TAG_PREFIX)}
        raw = {t: s for t, s in scores.items() if t.startswith(RAW_TAG_PREFIX)}
        if envelope:
            pipe.zadd(self.keys.unacked_index, envelope, xx=True)
        if raw:
            pipe.zadd(self.keys.unacked_raw_index, raw, xx=True)

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Move the leases' ``unacked_index`` scores to now (``ZADD XX``): not expired yet."""
        if not deliveries:
            return
        state = self._loop_state()

        async def run() -> None:
            async with state.client.pipeline(transaction=False) as pipe:
                self._queue_renewals(pipe, deliveries)
                await pipe.execute()

        await self._retrying("renew", run)

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`renew` on the producer-side (sync) client, for a watchdog thread."""
        if not deliveries:
            return

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=False) as pipe:
                self._queue_renewals(pipe, deliveries)
                pipe.execute()

        self._sync_call("renew", run)
