"""Keeping the broker clean: expired leases, dead consumers' inflight lists, bookkeeping.

Consumers look for expired leases at most every second (or a quarter of the timeout),
not every 100 s as kombu does: LEASE reports whether any lease or inflight heartbeat is
overdue, and the fetch then restores (``restore.py``) or gives back the dead consumer's
inflight lists. A message kombu restored and a Celery worker acked never gets a celeriac
ack, so consumers also sweep ``celeriac.owners`` and ``celeriac.deliveries``, one page a
minute (:meth:`RedisMaintenance.sweep`). ``recover`` gives back at once what a consumer
known to be dead held (a prefork parent knows when a child died).
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection

from celeriac.transports.base import TransportOptions
from celeriac.transports.redis.records import text
from celeriac.transports.redis.settle import RedisSettling
from celeriac.transports.redis.state import Hints, LoopState
from celeriac.utils.log import own_logger

__all__ = ["RedisMaintenance"]

logger = own_logger(__name__)


class RedisMaintenance(RedisSettling):
    """Restores, give-backs of dead consumers, and the bookkeeping sweep."""

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self._next_restore = 0.0
        self._next_sweep = 0.0
        #: bookkeeping sweep: monotonic time of the next page, and each hash's cursor
        self._next_bookkeeping = time.monotonic() + self.config.sweep_interval * random.random()
        self._sweep_cursors = {"owners": 0, "counters": 0}
        #: a blocker's LEASE saw expired leases / dead consumers (for the next _maintain)
        self._seen_stale = False
        self._seen_dead = False

    async def _maintain(self, state: LoopState, hints: Hints) -> None:
        """Restore expired leases and dead consumers' inflight lists, at most once a period.

        The hint may also have come from a blocker's LEASE (which took the turn to look).
        """
        now = time.monotonic()
        if self._seen_stale or self._seen_dead:
            hints = Hints(
                hints.dead_lettered,
                hints.next_eta,
                hints.stale_leases or self._seen_stale,
                hints.dead_consumers or self._seen_dead,
            )
        if hints.dead_consumers and now >= self._next_sweep:
            self._seen_dead = False
            self._next_sweep = now + 1.0
            keys = self.keys
            moved = await state.return_inflight(
                keys=[keys.consumers], args=[keys.prefix, keys.sep, "dead", 100]
            )
            if moved:
                logger.warning("Gave back %d messages a dead consumer had in flight", moved)
        if hints.stale_leases and now >= self._next_restore:
            self._seen_stale = False
            self._next_restore = now + self.config.restore_interval
            await self.restore_visible(state)
        if now >= self._next_bookkeeping:
            self._next_bookkeeping = now + self.config.sweep_interval
            await self._sweep_page(state, "owners")
            await self._sweep_page(state, "counters")

    async def sweep(self) -> int:
        """Drop every bookkeeping entry of messages no celeriac consumer holds; return how many.

        ``celeriac.owners`` and ``celeriac.deliveries`` are cleaned by celeriac's ack,
        requeue and dead-letter; a message that kombu restored and a Celery worker acked
        never gets those, so consumers also sweep, one page every
        ``bookkeeping_sweep_interval`` (60 s). An owner entry goes as soon as its message
        is not leased; a delivery count once its message has been unleased for
        ``delivery_count_ttl`` (a day: a restored message waiting in a list keeps its
        count). This runs every page at once.
        """
        state = self._loop_state()
        dropped = 0
        for mode in ("owners", "counters"):
            self._sweep_cursors[mode] = 0
            while True:
                dropped += await self._sweep_page(state, mode)
                if self._sweep_cursors[mode] == 0:
                    break
        return dropped

    async def _sweep_page(self, state: LoopState, mode: str) -> int:
        keys = self.keys
        key = keys.owners if mode == "owners" else keys.deliveries
        cursor, fields = await state.client.hscan(key, self._sweep_cursors[mode], count=500)
        self._sweep_cursors[mode] = int(cursor)
        if not fields:
            return 0
        dropped = await state.sweep(
            keys=keys.sweep_keys,
            args=[mode, repr(time.time()), self.config.delivery_count_ttl, *map(text, fields)],
        )
        return int(dropped)

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease of a dead consumer, and its inflight lists; return how many.

        When ``running`` is given, leases not named in it go back uncounted.
        """
        state = self._loop_state()

        async def run() -> int:
            owned = await self._owned_by(state, consumer_id)
            uncounted = set() if running is None else {t for t in owned if t not in running}
            done = await self._give_back_tags(state, owned, consumer_id, uncounted)
            keys = self.keys
            members = [
                text(m)
                for m in await state.client.zrange(keys.consumers, 0, -1)
                if text(m).startswith(consumer_id + keys.sep)
            ]
            if members:
                done += int(
                    await state.return_inflight(
                        keys=[keys.consumers],
                        args=[keys.prefix, keys.sep, "drop", *members],
                    )
                )
            return done

        done = await self._retrying("recover", run)
        if done:
            self._poke(state)
        return done

    async def _reclaim_orphans(self, state: LoopState) -> None:
        """After a LEASE whose reply was lost, give back what it leased to us unseen."""
        owned = await self._owned_by(state, self.consumer_id)
        lost = [tag for tag in owned if tag not in self._held]
        if lost:
            await self._give_back_tags(state, lost, self.consumer_id, uncounted=set(lost))
            logger.warning(
                "Gave back %d messages leased while the broker connection was lost", len(lost)
            )
        self._orphans_possible = False
