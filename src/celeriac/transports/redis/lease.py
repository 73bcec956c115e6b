"""The LEASE script's side of fetching: its keys and arguments, running it, reading its reply.

kombu pops (BRPOP) and then records the delivery in a second round trip: a worker dying
in between loses the message. Here one Lua script (LEASE, ``lua/lease.lua``) reads up to
``limit`` messages across all lists, records each in ``unacked`` / ``unacked_index``, its
owner (``celeriac.owners``) and its delivery count (``celeriac.deliveries``), and only
then trims the lists. A message delivered ``max_deliveries`` times without an ack goes to
the ``celeriac.dead_letters`` stream instead, in the same script. A list item that is not
a JSON object is leased under a made-up tag in ``celeriac.unacked_raw`` (never in kombu's
``unacked``, which kombu would choke on) and handed out as ``Delivery(message=None,
raw=…, error=…)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from celeriac.transports.base import Delivery, TransportOptions
from celeriac.transports.redis.connection import CONNECTION_ERRORS
from celeriac.transports.redis.maintenance import RedisMaintenance
from celeriac.transports.redis.records import ScriptArg, decode, text
from celeriac.transports.redis.restore import DEAD_LETTER_MAXLEN
from celeriac.transports.redis.state import Hints, Layout, LoopState

__all__ = ["HEARTBEAT_TTL", "MAX_BATCH", "MAX_BLOCKERS", "RedisLease"]

#: Seconds an inflight list may go without a heartbeat before others give it back.
HEARTBEAT_TTL = 30.0
#: Most queues that get a blocking connection of their own per consumer.
MAX_BLOCKERS = 8
#: Most messages one LEASE call takes.
MAX_BATCH = 1000


class RedisLease(RedisMaintenance):
    """LEASE calls, for a fetch (here) or a blocker (``blocking.py``)."""

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self._layouts: dict[tuple[str, ...], Layout] = {}
        #: monotonic time of the next look (inside LEASE) for expired leases
        self._next_check = 0.0

    def _layout(self, queues: tuple[str, ...]) -> Layout:
        """LEASE's keys and fixed arguments for ``queues`` in this order (cached)."""
        layout = self._layouts.get(queues)
        if layout is not None:
            return layout
        consumer = self.consumer_id
        names = self.keys
        sep = names.sep
        keys = names.lease_keys
        members: list[str] = []
        blocked: list[tuple[str, str, str]] = []
        for n, queue in enumerate(queues):
            member = f"{consumer}{sep}{queue}" if n < MAX_BLOCKERS else ""
            inflight = names.inflight(member) if member else names.unused
            keys.append(names.eta(queue))
            keys.append(inflight)
            keys.extend(names.queue_lists(queue))
            members.append(member)
            if member:
                blocked.append((f"{names.prefix}{queue}", inflight, member))
        args_tail: list[ScriptArg] = [
            sep,
            str(len(queues)),
            str(len(names.priority_steps)),
            *(str(s) for s in names.priority_steps),
            *queues,
            *members,
        ]
        if len(self._layouts) > 64:
            self._layouts.clear()
        layout = Layout(queues, keys, args_tail, blocked, frozenset(m for m in members if m))
        self._layouts[queues] = layout
        return layout

    def _lease_args(self, layout: Layout, limit: int, *, heartbeat: bool) -> list[ScriptArg]:
        """LEASE's arguments; it looks for expired leases only every ``check_interval``."""
        now = time.monotonic()
        check = now >= self._next_check
        if check:
            self._next_check = now + self.config.check_interval
        return [
            limit,
            self.config.max_deliveries,
            self.consumer_id,
            HEARTBEAT_TTL if heartbeat else 0,
            self.config.visibility_timeout if check else -1,
            DEAD_LETTER_MAXLEN,
            *layout.args_tail,
        ]

    async def _lease(
        self, state: LoopState, layout: Layout, limit: int
    ) -> tuple[list[Delivery], Hints]:
        """Run LEASE; a fetch cancelled meanwhile gives what it took back, uncounted."""
        call = asyncio.ensure_future(
            state.lease(keys=layout.keys, args=self._lease_args(layout, limit, heartbeat=False))
        )
        try:
            reply = await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(lambda done: self._lease_abandoned(state, layout, done))
            raise
        except CONNECTION_ERRORS:
            # The script may have run before the reply was lost: reclaim what it leased.
            self._orphans_possible = True
            raise
        return self._parse_lease(layout, reply)

    def _parse_lease(self, layout: Layout, reply: list[Any]) -> tuple[list[Delivery], Hints]:
        """LEASE's reply: ``[[tag, queue number, count, bytes]…], dead, next ETA, flags]``."""
        flat = reply[0]
        deliveries = []
        for i in range(0, len(flat), 4):
            tag = text(flat[i])
            queue = layout.queues[int(flat[i + 1]) - 1]
            deliveries.append(decode(tag, queue, int(flat[i + 2]), bytes(flat[i + 3])))
            self._held.add(tag)
        next_eta = float(reply[2])
        hints = Hints(
            int(reply[1]), next_eta if next_eta >= 0 else None, bool(reply[3]), bool(reply[4])
        )
        return deliveries, hints

    def _lease_abandoned(
        self, state: LoopState, layout: Layout, call: asyncio.Future[list[Any]]
    ) -> None:
        """A cancelled fetch's LEASE finished anyway: give its messages back uncounted."""
        if call.cancelled():
            return
        if call.exception() is not None:
            self._orphans_possible = True
            return
        self._give_back(state, self._parse_lease(layout, call.result())[0])
