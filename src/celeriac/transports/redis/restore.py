"""Putting leased messages back on their lists, as kombu's restore does.

A lease's ``unacked`` record is ``[envelope, exchange, routing_key]``; giving it back
pushes the envelope (with kombu's ``redelivered`` flags) to the front of every queue the
exchange routes it to, by REQUEUE, which checks the record is still there and still the
owner's. Used by ``requeue``, by fetches cancelled after their LEASE ran, by ``recover``
for dead consumers, and by :meth:`RedisRestore.restore_visible` for leases nobody renewed
within ``visibility_timeout`` (a Celery worker restores ours the same way, and we restore
its).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence

from celeriac.exceptions import BrokerError
from celeriac.transports.base import Delivery
from celeriac.transports.redis.connection import RedisConnection
from celeriac.transports.redis.keys import RAW_TAG_PREFIX
from celeriac.transports.redis.records import ScriptArg, flatten, restore_payload, text
from celeriac.transports.redis.state import LoopState
from celeriac.utils.log import own_logger

__all__ = ["DEAD_LETTER_MAXLEN", "RESTORE_BATCH", "RedisRestore"]

logger = own_logger(__name__)

#: Dead letters kept in the stream (approximately).
DEAD_LETTER_MAXLEN = 10_000
#: Most expired leases restored per pass.
RESTORE_BATCH = 1000


class RedisRestore(RedisConnection):
    """Give-backs: REQUEUE with kombu's restore of each ``unacked`` record."""

    async def restore_visible(self, state: LoopState | None = None) -> int:
        """Give back every lease older than ``visibility_timeout`` (kombu's ``restore_visible``).

        Takes ``unacked_mutex`` without waiting (skips the round when another client holds
        it), reads the expired tags newest first, and pushes each message back to the
        front of its queue with the ``redelivered`` flags, unless it was renewed or
        settled meanwhile. Returns how many came back.
        """
        state = state or self._loop_state()
        client, keys = state.client, self.keys
        token = uuid.uuid1().hex
        if not await client.set(
            keys.unacked_mutex, token, nx=True, px=int(self.config.mutex_expire * 1000)
        ):
            return 0
        try:
            ceil = time.time() - self.config.visibility_timeout
            rows = await client.zrange(
                keys.unacked_index,
                ceil,
                0,
                desc=True,
                byscore=True,
                offset=0,
                num=RESTORE_BATCH,
            )
            raw_tags = await client.zrangebyscore(
                keys.unacked_raw_index, "-inf", ceil, start=0, num=RESTORE_BATCH
            )
            tags = [text(t) for t in rows]
            items: list[list[ScriptArg]] = []
            if tags:
                values = await client.hmget(keys.unacked, tags)
                missing = [t for t, v in zip(tags, values, strict=True) if v is None]
                if missing:  # an index entry without a record: drop it, as kombu does
                    await client.zrem(keys.unacked_index, *missing)
                cache: dict[tuple[str, str], list[str]] = {}
                for tag, value in zip(tags, values, strict=True):
                    if value is not None:
                        item = await self._restore_item(state, tag, value, None, cache)
                        if item:
                            items.append(item)
            items.extend([text(t), "", "", "0", 0] for t in raw_tags)
            if not items:
                return 0
            # Newest first, as kombu: the oldest ends up at the consumer end.
            done = await state.requeue(
                keys=keys.settle_keys, args=["", repr(ceil), *flatten(items)]
            )
            if done:
                logger.warning(
                    "Restored %d unacknowledged messages whose lease expired "
                    "(visibility_timeout=%ss)",
                    done,
                    self.config.visibility_timeout,
                )
            return int(done)
        finally:
            await state.release_mutex(keys=[keys.unacked_mutex], args=[token])

    async def _restore_item(
        self,
        state: LoopState,
        tag: str,
        value: bytes | str,
        queue: str | None,
        cache: dict[tuple[str, str], list[str]],
        uncount: bool = False,
    ) -> list[ScriptArg] | None:
        """REQUEUE arguments for one unacked record: tag, expected, payload, uncount, dests."""
        plan = restore_payload(value)
        if plan is None:
            await self._park_unrestorable(state, tag, value)
            return None
        payload, exchange, routing_key, priority = plan
        if queue is not None:
            queues = [queue]
        else:
            queues = await self._lookup(state, exchange, routing_key, cache)
        dests = [self.keys.list_key(q, priority) for q in queues]
        return [tag, value, payload, "1" if uncount else "0", len(dests), *dests]

    async def _park_unrestorable(self, state: LoopState, tag: str, value: bytes | str) -> None:
        await state.dead_letter(
            keys=self.keys.dead_letter_keys,
            args=[
                tag,
                "unacked record is not [envelope, exchange, routing_key]",
                repr(time.time()),
                value,
                "",
                "",
                "",
                DEAD_LETTER_MAXLEN,
                0,
            ],
        )

    async def _lookup(
        self,
        state: LoopState,
        exchange: str,
        routing_key: str,
        cache: dict[tuple[str, str], list[str]],
    ) -> list[str]:
        """Queues a message published to (exchange, routing_key) goes to (kombu's ``_lookup``)."""
        if not exchange:
            return [routing_key]
        key = (exchange, routing_key)
        if key in cache:
            return cache[key]
        members = await state.client.smembers(self.keys.binding(exchange))
        queues: list[str] = []
        for raw in members:
            parts = text(raw).split(self.keys.sep)
            if len(parts) != 3:
                continue
            bound_key, pattern, queue = parts
            if pattern:
                try:
                    matched = re.match(pattern, routing_key) is not None
                except re.error:
                    matched = False
            else:
                matched = bound_key == routing_key
            if matched and queue not in queues:
                queues.append(queue)
        cache[key] = queues or [routing_key]
        return cache[key]

    async def _requeue(
        self, state: LoopState, deliveries: Sequence[Delivery], *, count: bool
    ) -> int:
        keys = self.keys
        tags = [d.tag for d in deliveries]
        envelope_tags = [t for t in tags if not t.startswith(RAW_TAG_PREFIX)]
        values = await state.client.hmget(keys.unacked, envelope_tags) if envelope_tags else []
        by_tag = dict(zip(envelope_tags, values, strict=True))
        items: list[list[ScriptArg]] = []
        cache: dict[tuple[str, str], list[str]] = {}
        # Reversed: the first delivery is pushed last, so it is the next one out.
        for delivery in reversed(deliveries):
            if delivery.tag.startswith(RAW_TAG_PREFIX):
                items.append([delivery.tag, "", "", "0" if count else "1", 0])
                continue
            value = by_tag.get(delivery.tag)
            if value is None:
                continue
            item = await self._restore_item(
                state, delivery.tag, value, delivery.queue, cache, uncount=not count
            )
            if item:
                items.append(item)
        done = 0
        if items:
            done = int(
                await state.requeue(
                    keys=keys.settle_keys, args=[self.consumer_id, "", *flatten(items)]
                )
            )
        self._held.difference_update(tags)
        if done:
            self._poke(state)
        return done

    def _give_back(self, state: LoopState, deliveries: list[Delivery]) -> None:
        """Requeue, uncounted and in the background, deliveries nobody will receive."""
        if not deliveries or state.loop.is_closed():
            return

        async def run() -> None:
            try:
                await self._retrying(
                    "requeue", lambda: self._requeue(state, deliveries, count=False)
                )
            except BrokerError as exc:
                logger.warning(
                    "Could not give back %d leased messages (%s); they return "
                    "after the visibility timeout",
                    len(deliveries),
                    exc,
                )

        task = state.loop.create_task(run())
        state.background.add(task)
        task.add_done_callback(state.background.discard)

    async def _owned_by(self, state: LoopState, consumer_id: str) -> list[str]:
        """Tags leased to ``consumer_id``, oldest delivery first."""
        tags = []
        owner = consumer_id.encode()
        async for tag, holder in state.client.hscan_iter(self.keys.owners, count=1000):
            if holder == owner:
                tags.append(text(tag))
        if not tags:
            return []
        async with state.client.pipeline(transaction=False) as pipe:
            for tag in tags:
                index = (
                    self.keys.unacked_raw_index
                    if tag.startswith(RAW_TAG_PREFIX)
                    else self.keys.unacked_index
                )
                pipe.zscore(index, tag)
            scores = await pipe.execute()
        order = sorted(zip(scores, tags, strict=True), key=lambda p: (p[0] or 0.0, p[1]))
        return [tag for _, tag in order]

    async def _give_back_tags(
        self, state: LoopState, tags: list[str], owner: str, uncounted: set[str]
    ) -> int:
        if not tags:
            return 0
        keys = self.keys
        envelope_tags = [t for t in tags if not t.startswith(RAW_TAG_PREFIX)]
        values = await state.client.hmget(keys.unacked, envelope_tags) if envelope_tags else []
        by_tag = dict(zip(envelope_tags, values, strict=True))
        cache: dict[tuple[str, str], list[str]] = {}
        items: list[list[ScriptArg]] = []
        for tag in reversed(tags):
            if tag.startswith(RAW_TAG_PREFIX):
                items.append([tag, "", "", "1" if tag in uncounted else "0", 0])
                continue
            value = by_tag.get(tag)
            if value is not None:
                item = await self._restore_item(
                    state, tag, value, None, cache, uncount=tag in uncounted
                )
                if item:
                    items.append(item)
        if not items:
            return 0
        return int(await state.requeue(keys=keys.settle_keys, args=[owner, "", *flatten(items)]))
