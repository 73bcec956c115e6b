"""Waiting for a push: blockers (BLMOVE + LEASE on connections of their own) for idle fetches.

An idle fetch must not poll to start a task within a millisecond. It runs LEASE once;
when nothing is there it hands the wait to *blockers*: for the plain list of each
consumed queue (up to ``MAX_BLOCKERS``), a connection of its own sends ``BLMOVE <queue>
<inflight list> RIGHT LEFT`` with ``EVALSHA LEASE`` pipelined behind it. BLMOVE moves a
pushed message atomically to this consumer's inflight list (``celeriac.inflight SEP
<consumer> SEP <queue>``); Redis runs the queued LEASE the moment BLMOVE returns (LEASE
stamps times with the server clock for that reason), and LEASE takes the inflight list
first: one network trip from a producer's LPUSH to the waiting fetch, and the message is
never only in a client's memory. When BLMOVE times out (``polling_interval``, 0.1 s;
Redis checks such timeouts every 100 ms) the same LEASE runs anyway, which is how
priority sub-lists, queues past the eighth and ETA entries other producers add are
picked up while idle. Blockers outlive the fetch that started them, so a fetch returns at
its own deadline (or is cancelled) to the millisecond; what a blocker leases after its
fetch is gone goes straight back to the front of the queue, uncounted. Each inflight list
has a heartbeat in the ``celeriac.consumers`` sorted set, renewed by every LEASE; any
consumer finding one 30 s overdue pushes that list back to its queue, so a consumer dying
with a message in flight loses nothing. On close, blockers are unblocked (``CLIENT
UNBLOCK``) and their lists given back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
import redis.asyncio.connection
import redis.asyncio.retry
import redis.backoff
import redis.exceptions

from celeriac.transports.base import Delivery
from celeriac.transports.redis import scripts
from celeriac.transports.redis.lease import RedisLease
from celeriac.transports.redis.state import Blocker, Hints, Layout, LoopState, Waiter
from celeriac.utils.log import own_logger
from celeriac.utils.redis_url import connection_class, pool_kwargs

__all__ = ["RedisBlocking"]

logger = own_logger(__name__)


class RedisBlocking(RedisLease):
    """Idle fetches wait on blockers; blockers hand what they lease to the first waiter."""

    async def _wait(
        self, state: LoopState, layout: Layout, limit: int, pause: float
    ) -> list[Delivery]:
        """Wait up to ``pause`` for the blockers to lease something for this fetch."""
        waiter = Waiter(layout, limit, time.time() + pause, state.loop.create_future())
        state.waiters.append(waiter)
        try:
            for source, inflight, member in layout.blocked:
                blocker = state.blockers.get(member)
                if blocker is None:
                    blocker = state.blockers[member] = Blocker(source, inflight, member)
                if blocker.task is None or blocker.task.done():
                    blocker.task = state.loop.create_task(self._block(state, blocker))
            if layout.blocked:
                await asyncio.wait([waiter.future], timeout=pause)
            else:
                await asyncio.sleep(pause)
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(state, waiter.future.result())
            raise
        finally:
            if waiter in state.waiters:
                state.waiters.remove(waiter)
        if waiter.future.done():
            return waiter.future.result()
        waiter.future.cancel()
        return []

    async def _block(self, state: LoopState, blocker: Blocker) -> None:
        """While a fetch waits: BLMOVE then LEASE, pipelined on one connection.

        Redis runs the LEASE right after BLMOVE returns (a message moved to the inflight
        list, or the timeout), so a push reaches the waiting fetch in one network trip.
        """
        try:
            while state.waiters and not self._closed:
                waiter = state.waiters[0]
                layout = waiter.layout
                if blocker.member not in layout.members:
                    return
                conn = await self._blocker_connection(state, blocker)
                keys = layout.keys
                args = self._lease_args(layout, waiter.limit, heartbeat=True)
                await conn.send_packed_command(
                    conn.pack_commands(
                        [
                            (
                                "BLMOVE",
                                blocker.source,
                                blocker.inflight,
                                "RIGHT",
                                "LEFT",
                                self.config.block_timeout,
                            ),
                            ("EVALSHA", state.lease.sha, len(keys), *keys, *args),
                        ]
                    )
                )
                await conn.read_response()
                try:
                    reply = await conn.read_response()
                except redis.exceptions.NoScriptError:
                    await state.client.script_load(scripts.LEASE)
                    continue
                deliveries, hints = self._parse_lease(layout, reply)
                self._hand_over(state, deliveries, hints)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.debug("Redis blocker for %s stopped: %r", blocker.source, exc)
            blocker.client_id = None
            self._poke(state)  # let the fetch find out (and back off)

    def _hand_over(self, state: LoopState, deliveries: list[Delivery], hints: Hints) -> None:
        """Give a blocker's leases to the first waiting fetch, or back to the queue."""
        self._seen_stale = self._seen_stale or hints.stale_leases
        self._seen_dead = self._seen_dead or hints.dead_consumers
        while state.waiters and state.waiters[0].future.done():
            state.waiters.popleft()
        waiter = state.waiters[0] if state.waiters else None
        if deliveries:
            if waiter is not None:
                state.waiters.popleft()
                if len(deliveries) < waiter.limit and waiter.layout.members:
                    state.drained = (waiter.layout.members, hints)
                # A fetch that came after the LEASE was sent may want fewer messages.
                waiter.future.set_result(deliveries[: waiter.limit])
                deliveries = deliveries[waiter.limit :]
            self._give_back(state, deliveries)
            return
        if waiter is None:
            return
        now = time.monotonic()
        if (
            (hints.stale_leases and now >= self._next_restore)
            or (hints.dead_consumers and now >= self._next_sweep)
            or (hints.next_eta is not None and hints.next_eta < waiter.wake_at)
        ):
            state.waiters.popleft()
            waiter.future.set_result([])

    async def _blocker_connection(
        self, state: LoopState, blocker: Blocker
    ) -> redis.asyncio.connection.AbstractConnection:
        """The blocker's own connection (not pooled: it sits in BLMOVE), and its client id."""
        conn = blocker.conn
        if conn is not None and conn.is_connected and blocker.client_id is not None:
            return conn
        kwargs = pool_kwargs(self.config.conn_kwargs)
        kwargs["socket_timeout"] = max(
            kwargs.get("socket_timeout") or 0.0, self.config.block_timeout + 5.0
        )
        kwargs["retry"] = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
        conn_class = connection_class(self.config.conn_kwargs, redis.asyncio.connection)
        if state.sentinel is not None:
            host, port = await state.sentinel.discover_master(self._master_name())
            kwargs.pop("path", None)
            kwargs.update(host=host, port=port)
        if conn is not None:
            await conn.disconnect()
        conn = blocker.conn = self._new_connection(conn_class, kwargs)
        await conn.connect()  # type: ignore[no-untyped-call]  # redis-py: unannotated
        await conn.send_command("CLIENT", "ID")
        blocker.client_id = int(await conn.read_response())
        return conn

    @staticmethod
    def _new_connection(
        conn_class: Any, kwargs: dict[str, Any]
    ) -> redis.asyncio.connection.AbstractConnection:
        conn: redis.asyncio.connection.AbstractConnection = conn_class(**kwargs)
        return conn

    async def _stop_blockers(self, state: LoopState) -> None:
        blockers = list(state.blockers.values())
        state.blockers.clear()
        if not blockers:
            return
        clean = True
        for blocker in blockers:
            if blocker.task is None or blocker.task.done():
                continue
            unblocked = False
            if blocker.client_id is not None:
                try:
                    unblocked = bool(await state.client.client_unblock(blocker.client_id))
                except redis.exceptions.ResponseError:  # no permission: cancel instead
                    unblocked = False
                if unblocked:
                    try:
                        await asyncio.wait_for(asyncio.shield(blocker.task), 5.0)
                    except TimeoutError:
                        unblocked = False
            if not unblocked and not blocker.task.done():
                clean = False
                blocker.task.cancel()
                await asyncio.gather(blocker.task, return_exceptions=True)
        for blocker in blockers:
            if blocker.conn is not None:
                try:
                    await blocker.conn.disconnect()
                except Exception:
                    pass
        members = [b.member for b in blockers]
        keys = self.keys
        await state.return_inflight(
            keys=[keys.consumers],
            args=[keys.prefix, keys.sep, "drop" if clean else "expire", *members],
        )
