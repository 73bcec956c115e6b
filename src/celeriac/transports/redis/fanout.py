"""Broadcast and reply queues on Redis, in kombu's layout (PUB/SUB fanout, bound reply lists).

* Fanout (kombu's ``fanout_prefix``/``fanout_patterns``): ``PUBLISH
  <global_keyprefix>/<db>.<exchange>[/<routing key>] <envelope>``; a subscriber
  ``PSUBSCRIBE``\\s the channel of its binding key with ``#`` turned into ``*``. No
  persistence: a subscriber that is not listening misses the message, as with kombu.
* A subscriber that names its queue (a worker's ``<node>.celery.pidbox``) also writes the
  binding member ``"" SEP "" SEP <queue>`` to ``_kombu.binding.<exchange>`` (kombu writes
  it; nothing routes by it).
* Reply queues: binding member ``<routing key> SEP "" SEP <queue>`` in
  ``_kombu.binding.<exchange>`` with kombu 5.7's deadline in ``_kombu.binding_deadlines``
  (``ZADD GT``, at least an hour ahead) so a kombu 5.7 sweep keeps the table; a publisher
  ``SMEMBERS`` the table and ``LPUSH``\\es to each queue bound with the routing key; the
  client ``BRPOP``\\s the queue's priority lists and at the end ``SREM``\\s its member and
  ``DEL``\\s the lists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import redis
import redis.asyncio
import redis.asyncio.client
import redis.exceptions

from celeriac.exceptions import BrokerError
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Subscription
from celeriac.transports.redis.connection import RedisConnection
from celeriac.transports.redis.records import text

__all__ = ["RedisFanout"]

T = TypeVar("T")

#: kombu 5.7: a binding's deadline is at least this far ahead (ms).
BINDING_DEADLINE_MS = 3_600_000
#: Longest single BRPOP while popping a reply (seconds).
MAX_BLOCK = 1.0


class _RedisSubscription(Subscription):
    def __init__(
        self,
        pubsub: redis.asyncio.client.PubSub,
        cleanup: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.pubsub = pubsub
        self._cleanup = cleanup

    async def get(self, timeout: float) -> Message | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                item = await self.pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=remaining
                )
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"broadcast subscription lost: {exc}") from exc
            if item is None:
                continue
            if item.get("type") not in ("message", "pmessage"):
                continue
            return loads_envelope(item["data"])

    async def aclose(self) -> None:
        try:
            await self.pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # unannotated before redis-py 6
        except (redis.exceptions.RedisError, OSError):
            pass
        if self._cleanup is not None:
            await self._cleanup()


class RedisFanout(RedisConnection):
    """The :class:`~celeriac.transports.contracts.Broadcast` capability: PUB/SUB and reply lists."""

    def fanout_channel(self, exchange: str, routing_key: str = "") -> str:
        """The PUB/SUB channel kombu uses for ``exchange`` (and a routing key)."""
        return self.keys.fanout_channel(exchange, routing_key)

    def _with_info(self, message: Message, exchange: str, routing_key: str) -> bytes:
        properties = dict(message.properties)
        properties["delivery_info"] = {"exchange": exchange, "routing_key": routing_key}
        properties.setdefault("priority", 0)
        return dumps_envelope(
            Message(
                message.body,
                message.content_type,
                message.content_encoding,
                message.headers,
                properties,
            )
        )

    def _call(self, what: str, func: Callable[[redis.Redis], T]) -> T:
        try:
            return func(self._sync())
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"{what} failed on the Redis broker: {exc}") from exc

    # -- fanout -----------------------------------------------------------------------
    def publish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """``PUBLISH`` the envelope on the exchange's channel."""
        raw = self._with_info(message, exchange, routing_key)
        channel = self.fanout_channel(exchange, routing_key)
        self._call("broadcast", lambda client: client.publish(channel, raw))

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Async twin of :meth:`publish_fanout`, on this loop's client."""
        raw = self._with_info(message, exchange, routing_key)
        client = self._loop_state().client
        try:
            await client.publish(self.fanout_channel(exchange, routing_key), raw)
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"broadcast failed on the Redis broker: {exc}") from exc

    async def subscribe_fanout(
        self, exchange: str, routing_key: str = "", *, queue: str | None = None
    ) -> Subscription:
        """``PSUBSCRIBE`` the exchange's channel (``#`` → ``*``), on a connection of its own."""
        client = self._loop_state().client
        pattern = self.fanout_channel(exchange, routing_key.replace("#", "*"))
        table = self.keys.binding(exchange)
        member = self.keys.binding_member(routing_key, queue) if queue else None
        try:
            if member is not None:
                await client.sadd(table, member)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.psubscribe(pattern)
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"cannot subscribe to {exchange!r}: {exc}") from exc

        async def cleanup() -> None:
            if member is not None:
                try:
                    await client.srem(table, member)
                except (redis.exceptions.RedisError, OSError):
                    pass

        return _RedisSubscription(pubsub, cleanup)

    # -- reply queues ------------------------------------------------------------------
    def bind_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """``SADD`` the binding member and push kombu 5.7's deadline for the table forward."""
        table = self.keys.binding(exchange)
        member = self.keys.binding_member(routing_key, queue)
        deadline = int(time.time() * 1000) + BINDING_DEADLINE_MS

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=True) as pipe:
                pipe.sadd(table, member)
                pipe.zadd(self.keys.binding_deadlines, {exchange: deadline}, gt=True)
                pipe.execute()

        self._call("binding a reply queue", run)

    def _route(self, members: Iterable[bytes | str], routing_key: str) -> list[str]:
        queues = []
        for raw in members:
            parts = text(raw).split(self.keys.sep)
            if len(parts) == 3 and parts[0] == routing_key:
                queues.append(parts[2])
        return sorted(set(queues))

    def publish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """``SMEMBERS`` the exchange's bindings and ``LPUSH`` to every matching queue."""
        raw = self._with_info(message, exchange, routing_key)
        table = self.keys.binding(exchange)
        prefix = self.keys.prefix

        def run(client: redis.Redis) -> int:
            queues = self._route(client.smembers(table), routing_key)
            for queue in queues:
                client.lpush(f"{prefix}{queue}", raw)
            return len(queues)

        return int(self._call("publishing a reply", run))

    async def apublish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Async twin of :meth:`publish_routed`, on this loop's client."""
        raw = self._with_info(message, exchange, routing_key)
        table = self.keys.binding(exchange)
        prefix = self.keys.prefix
        client = self._loop_state().client
        try:
            queues = self._route(await client.smembers(table), routing_key)
            for queue in queues:
                await client.lpush(f"{prefix}{queue}", raw)
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"publishing a reply failed on the Redis broker: {exc}") from exc
        return len(queues)

    def pop_message(self, queue: str, timeout: float) -> Message | None:
        """``BRPOP`` the queue's lists (priority 0 first), up to ``timeout`` seconds."""
        keys = self.keys.reply_lists(queue)
        deadline = time.monotonic() + timeout

        def run(client: redis.Redis) -> bytes | str | None:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                block = max(0.01, min(MAX_BLOCK, remaining))
                item = client.brpop(keys, timeout=block)
                if item is not None:
                    return item[1]

        raw = self._call("waiting for a reply", run)
        return None if raw is None else loads_envelope(raw)

    def delete_queue(self, queue: str, exchange: str = "", routing_key: str = "") -> None:
        """``SREM`` the binding member and ``DEL`` the queue's lists."""

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=False) as pipe:
                if exchange:
                    pipe.srem(
                        self.keys.binding(exchange), self.keys.binding_member(routing_key, queue)
                    )
                pipe.delete(*self.keys.reply_lists(queue))
                pipe.execute()

        self._call("deleting a reply queue", run)
