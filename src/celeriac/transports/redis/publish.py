"""The producer side: kombu's envelope LPUSHed on the queue's priority list, bindings declared.

A message goes to ``P<queue>`` or its priority list (kombu's ``_q_for_pri``). The first
publish to (or consume of) a queue also writes the bindings Celery declares
(``_kombu.binding.<exchange>`` and its permanent copy), so Celery publishers and kombu's
restore can route to it; later publishes are one LPUSH, on a connection of the thread's
own that skips redis-py's per-command machinery.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence

import redis
import redis.asyncio.client
import redis.client
import redis.connection
import redis.exceptions

from celeriac.config.entities import Queue
from celeriac.exceptions import BrokerError
from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis.connection import Pipeline, RedisConnection
from celeriac.transports.redis.records import clamp_priority
from celeriac.transports.redis.state import LoopState

__all__ = ["RedisPublisher", "kombu_topic_pattern"]


def kombu_topic_pattern(routing_key: str) -> str:
    """The regex kombu 5.7 stores beside a topic binding key (``key_to_pattern``), which
    Celery producers on Redis route by (``#`` there needs at least one word before a
    ``.``; celeriac's own routing follows AMQP: :mod:`celeriac.app.exchanges`)."""
    escaped = "".join(
        char if char.isalnum() or char in ".#*" else ("\\000" if char == "\0" else "\\" + char)
        for char in routing_key
    )
    wildcards = {"*": r"[^\.]+", "#": r".*?"}
    words = r"\.".join(wildcards.get(word, word) for word in escaped.split("."))
    return f"^{words}$"


class _Pushers(threading.local):
    """Each producer thread's own connection for plain LPUSHes (see ``_fast_lpush``)."""

    conn: redis.connection.AbstractConnection | None = None
    pid: int = 0


class RedisPublisher(RedisConnection):
    """Publishing (sync from any thread, or async), in batches
    (:class:`~celeriac.transports.contracts.BatchPublish`) and raw
    (:class:`~celeriac.transports.contracts.RawPublish`)."""

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        #: (exchange, "routing_key:queue") bindings this process has written
        self._declared: set[tuple[str, str]] = set()
        #: exchanges whose bindings the app declared (``declare_queues``), by name
        self._declared_exchanges: set[str] = set()
        self._declared_queues: set[Queue] = set()
        self._pushers = _Pushers()
        self._pusher_conns: weakref.WeakSet[redis.connection.AbstractConnection] = weakref.WeakSet()

    def close(self) -> None:
        """Close this process's producer connections (the pushers' too)."""
        owned = self._sync_client is not None and self._sync_pid == os.getpid()
        super().close()
        if owned:
            for conn in list(self._pusher_conns):
                conn.disconnect()  # type: ignore[no-untyped-call]  # redis-py: unannotated
            self._pusher_conns = weakref.WeakSet()
            self._pushers = _Pushers()

    def _binding(self, exchange: str, routing_key: str, queue: str) -> tuple[str, str, str]:
        keys = self.keys
        member = keys.binding_member(routing_key, queue)
        return keys.binding(exchange), keys.binding_permanent(exchange), member

    def _bindings_for(self, queue: str, message: Message | None) -> list[tuple[str, str, str]]:
        """Bindings Celery would have declared for ``queue`` (and the message's exchange)."""
        wanted = [(queue, queue)]
        info = message.properties.get("delivery_info") if message is not None else None
        if isinstance(info, dict):
            exchange = info.get("exchange")
            routing_key = info.get("routing_key")
            if (
                exchange
                and isinstance(exchange, str)
                and exchange not in self._declared_exchanges  # declared as they are
                and (exchange, routing_key) != wanted[0]
            ):
                wanted.append((exchange, str(routing_key or "")))
        out = []
        for exchange, routing_key in wanted:
            if (exchange, f"{routing_key}:{queue}") not in self._declared:
                out.append(self._binding(exchange, routing_key, queue))
        return out

    def declare_queues(self, queues: Sequence[Queue]) -> None:
        """Write each queue's bindings into kombu's binding tables, as kombu's Redis channel
        declares them (a topic binding with kombu's regex), so Celery producers and
        kombu's restore route to them; see
        :class:`~celeriac.transports.contracts.DeclareQueues`."""
        new = [queue for queue in queues if queue not in self._declared_queues]
        if not new:
            return
        writes = []
        for queue in new:
            for item in queue.all_bindings():
                exchange = item.exchange
                if exchange is None:
                    continue
                pattern = kombu_topic_pattern(item.routing_key) if exchange.type == "topic" else ""
                member = self.keys.sep.join([item.routing_key, pattern, queue.name])
                table = self.keys.binding(exchange.name)
                writes.append((table, self.keys.binding_permanent(exchange.name), member))

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=False) as pipe:
                for table, permanent, member in writes:
                    pipe.sadd(table, member)
                    pipe.sadd(permanent, member)
                pipe.execute()

        if writes:
            self._sync_call("declare", run)
        for queue in new:
            self._declared_queues.add(queue)
            self._declared_exchanges.update(
                item.exchange.name for item in queue.all_bindings() if item.exchange is not None
            )

    def _mark_declared(self, bindings: list[tuple[str, str, str]]) -> None:
        for table, _, member in bindings:
            exchange = self.keys.exchange_of(table)
            routing_key, _, queue = member.split(self.keys.sep)
            self._declared.add((exchange, f"{routing_key}:{queue}"))

    def _prepared(self, message: Message, queue: str, priority: int) -> tuple[bytes, int]:
        priority = clamp_priority(priority)
        properties = dict(message.properties)
        if not isinstance(properties.get("delivery_info"), dict):
            properties["delivery_info"] = {"exchange": "", "routing_key": queue}
        properties["priority"] = priority
        if properties != message.properties:
            message = Message(
                message.body,
                message.content_type,
                message.content_encoding,
                message.headers,
                properties,
            )
        return dumps_envelope(message), priority

    def _publish_commands(
        self,
        pipe: Pipeline,
        raw: bytes,
        queue: str,
        priority: int,
        eta: float | None,
        bindings: list[tuple[str, str, str]],
    ) -> None:
        for table, permanent, member in bindings:
            pipe.sadd(table, member)
            pipe.sadd(permanent, member)
        # ETA messages go on the list like Celery's (the eta header says when), so a
        # Celery worker sharing the queue runs them too; a celeriac worker that takes one
        # early parks it in the queue's ETA set (defer) instead of holding it.
        pipe.lpush(self.keys.list_key(queue, priority), raw)

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """LPUSH the envelope to the queue's list (or its ETA set); see :meth:`Transport.publish`.

        ``priority`` picks kombu's priority list: on Redis 0 runs first and 9 last.
        """
        raw, priority = self._prepared(message, queue, priority)
        self.publish_raw(raw, queue, priority=priority, eta=eta, message=message)

    def publish_raw(
        self,
        raw: bytes,
        queue: str,
        *,
        priority: int = 0,
        eta: float | None = None,
        message: Message | None = None,
    ) -> None:
        """Store already-encoded bytes on a queue verbatim (one round trip)."""
        bindings = self._bindings_for(queue, message)
        if (
            not bindings
            and eta is None
            and self._fast_lpush(self.keys.list_key(queue, priority), raw)
        ):
            return

        def run(client: redis.Redis) -> None:
            if not bindings:
                client.lpush(self.keys.list_key(queue, priority), raw)
                return
            with client.pipeline(transaction=True) as pipe:
                self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                pipe.execute()

        self._sync_call("publish", run)
        self._mark_declared(bindings)

    def _fast_lpush(self, key: str, raw: bytes) -> bool:
        """LPUSH on a connection of this thread's own, past redis-py's command machinery.

        redis-py's pool, retry, event and metrics layers cost more per call than the
        round trip itself (about 150 µs against 60-150 µs), and a producer calling
        ``delay()`` in a loop pays them every time. Returns False when this path does not
        apply (Sentinel) or the connection failed: the caller then publishes the usual
        way, with redis-py's retries, exactly as if this had not been tried (redis-py
        also resends a command whose reply was lost).
        """
        if self.target.kind == "sentinel":
            return False
        local = self._pushers
        conn = local.conn
        if conn is None or local.pid != os.getpid():
            pool = self._sync().connection_pool
            conn = local.conn = pool.connection_class(**pool.connection_kwargs)
            local.pid = os.getpid()
            self._pusher_conns.add(conn)
        try:
            conn.send_packed_command(conn.pack_command("LPUSH", key, raw), check_health=False)
            conn.read_response()
        except redis.exceptions.ResponseError as exc:
            raise BrokerError(f"publish failed on the Redis broker: {exc}") from exc
        except (redis.exceptions.RedisError, OSError):
            conn.disconnect()
            local.conn = None
            return False
        return True

    def publish_many(self, items: Sequence[tuple[Message, str, float | None]]) -> None:
        """Publish several ``(message, queue, eta)`` in a few round trips (a group's members).

        Each chunk of 1,000 is one MULTI/EXEC pipeline of :meth:`publish`'s commands.
        """
        prepared = []
        for message, queue, eta in items:
            raw, priority = self._prepared(message, queue, message.priority)
            prepared.append((raw, queue, priority, eta, self._bindings_for(queue, message)))

        def run(client: redis.Redis) -> None:
            for start in range(0, len(prepared), 1000):
                with client.pipeline(transaction=True) as pipe:
                    for raw, queue, priority, eta, bindings in prepared[start : start + 1000]:
                        self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                    pipe.execute()

        self._sync_call("publish", run)
        for *_, bindings in prepared:
            self._mark_declared(bindings)

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish`, on this loop's asyncio client."""
        raw, priority = self._prepared(message, queue, priority)
        bindings = self._bindings_for(queue, message)
        client = self._loop_state().client
        try:
            async with client.pipeline(transaction=bool(bindings)) as pipe:
                self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"publish failed on the Redis broker: {exc}") from exc
        self._mark_declared(bindings)

    async def _declare(self, state: LoopState, queues: Sequence[str]) -> None:
        bindings = [b for queue in queues for b in self._bindings_for(queue, None)]
        if not bindings:
            return
        async with state.client.pipeline(transaction=True) as pipe:
            for table, permanent, member in bindings:
                pipe.sadd(table, member)
                pipe.sadd(permanent, member)
            await pipe.execute()
        self._mark_declared(bindings)
