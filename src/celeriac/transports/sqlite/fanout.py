"""Broadcast and reply queues of the embedded SQLite broker (tables next to the messages).

* Broadcast: ``celeriac_broadcast`` rows live ``BROADCAST_TTL`` seconds. A subscriber
  starts at the newest row id when it subscribes (so, as with Redis PUB/SUB, what was
  sent while it was not listening is never seen) and reads rows after it; publishers
  ring a doorbell next to the file (``<file>#fanout``), and subscribers also look every
  ``BROADCAST_POLL`` seconds in case a ring was missed.
* Reply queues: ``celeriac_bindings`` (exchange, routing key, queue) and
  ``celeriac_replies`` rows per queue; a client polls its queue while it waits (every
  millisecond at first, backing off to 20 ms). Rows older
  than ``REPLY_TTL`` are dropped (kombu's reply queues have a 300 s message TTL).
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import sqlite3
import threading
import time
from contextlib import AbstractContextManager

from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Subscription
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection
from celeriac.utils.doorbell import Doorbell, doorbell_dir, ring
from celeriac.utils.log import own_logger

__all__ = ["SQLiteFanout"]

logger = own_logger(__name__)

#: Seconds a broadcast row is kept (subscribers read it well within this).
BROADCAST_TTL = 60.0
#: Longest pause between two looks of an idle subscriber (seconds).
BROADCAST_POLL = 0.5
#: Seconds a reply is kept when nobody pops it.
REPLY_TTL = 300.0
#: Pauses between two looks of a client waiting for replies: from 1 ms up to 20 ms.
REPLY_POLL_FIRST = 0.001
REPLY_POLL = 0.02


def _routing_matches(binding_key: str, routing_key: str) -> bool:
    if binding_key in ("", "#"):
        return True
    return fnmatch.fnmatchcase(routing_key, binding_key.replace("#", "*"))


def _with_info(message: Message, exchange: str, routing_key: str) -> bytes:
    properties = dict(message.properties)
    properties["delivery_info"] = {"exchange": exchange, "routing_key": routing_key}
    return dumps_envelope(
        Message(
            message.body,
            message.content_type,
            message.content_encoding,
            message.headers,
            properties,
        )
    )


class _SQLiteSubscription(Subscription):
    def __init__(self, owner: SQLiteFanout, exchange: str, routing_key: str, start: int) -> None:
        self.owner = owner
        self.exchange = exchange
        self.routing_key = routing_key
        self.position = start
        self.buffer: list[bytes] = []
        self.loop = asyncio.get_running_loop()
        self.rung = asyncio.Event()
        self.bell: Doorbell | None = None
        try:
            self.bell = Doorbell(owner._fanout_bell_dir(), self._on_ring)
        except OSError as exc:
            logger.debug("no broadcast doorbell (%s): polling", exc)

    def _on_ring(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.rung.set)
        except RuntimeError:
            pass

    def _read(self) -> list[tuple[int, str, bytes]]:
        with self.owner._db.connection() as conn:
            rows = conn.execute(schema.READ_BROADCASTS, (self.position, self.exchange)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    async def get(self, timeout: float) -> Message | None:
        deadline = self.loop.time() + timeout
        while True:
            if self.buffer:
                return loads_envelope(self.buffer.pop(0))
            self.rung.clear()
            rows = await asyncio.to_thread(self._read)
            for row_id, routing_key, payload in rows:
                self.position = max(self.position, row_id)
                if _routing_matches(self.routing_key, routing_key):
                    self.buffer.append(payload)
            if self.buffer:
                continue
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(min(remaining, BROADCAST_POLL)):
                    await self.rung.wait()
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        bell, self.bell = self.bell, None
        if bell is not None:
            bell.close()


class SQLiteFanout(SQLiteConnection):
    """The :class:`~celeriac.transports.contracts.Broadcast` capability, in tables."""

    _fanout_schema_pid: int = 0
    _fanout_lock = threading.Lock()

    def _fanout_bell_dir(self) -> str:
        return doorbell_dir(self.path + "#fanout")

    def _fanout_conn(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction, with the broadcast tables created once per process."""
        if self._fanout_schema_pid != os.getpid():
            with self._fanout_lock, self._db.write() as conn:
                for statement in schema.BROADCAST_SCHEMA:
                    conn.execute(statement)
            self._fanout_schema_pid = os.getpid()
        return self._db.write()

    # -- fanout -----------------------------------------------------------------------
    def publish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Insert a broadcast row (dropping expired ones) and ring the subscribers."""
        raw = _with_info(message, exchange, routing_key)
        now = time.time()
        with self._fanout_conn() as conn:
            conn.execute(schema.DROP_OLD_BROADCASTS, (now - BROADCAST_TTL,))
            conn.execute(schema.INSERT_BROADCAST, (exchange, routing_key, now, raw))
        ring(self._fanout_bell_dir())

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Async twin of :meth:`publish_fanout`, run on a thread."""
        await asyncio.to_thread(self.publish_fanout, message, exchange, routing_key)

    async def subscribe_fanout(
        self, exchange: str, routing_key: str = "", *, queue: str | None = None
    ) -> Subscription:
        """Listen from the newest broadcast row on."""

        def newest() -> int:
            with self._fanout_conn() as conn:
                row = conn.execute(schema.NEWEST_BROADCAST).fetchone()
            return int(row[0] or 0)

        start = await asyncio.to_thread(newest)
        return _SQLiteSubscription(self, exchange, routing_key, start)

    # -- reply queues ------------------------------------------------------------------
    def bind_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Record the binding."""
        with self._fanout_conn() as conn:
            conn.execute(schema.BIND, (exchange, routing_key, queue, time.time()))

    def publish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Insert a reply row for every queue bound with ``routing_key``."""
        raw = _with_info(message, exchange, routing_key)
        now = time.time()
        with self._fanout_conn() as conn:
            queues = [
                str(row[0])
                for row in conn.execute(schema.BOUND_QUEUES, (exchange, routing_key)).fetchall()
            ]
            conn.execute(schema.DROP_OLD_REPLIES, (now - REPLY_TTL,))
            conn.executemany(schema.INSERT_REPLY, [(queue, now, raw) for queue in queues])
        return len(queues)

    async def apublish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Async twin of :meth:`publish_routed`, run on a thread."""
        return await asyncio.to_thread(self.publish_routed, message, exchange, routing_key)

    def pop_message(self, queue: str, timeout: float) -> Message | None:
        """Take the oldest reply of ``queue``, polling until ``timeout``."""
        deadline = time.monotonic() + timeout
        pause = REPLY_POLL_FIRST
        while True:
            with self._db.connection() as conn:
                row = conn.execute(schema.OLDEST_REPLY, (queue,)).fetchone()
            if row is not None:
                with self._fanout_conn() as conn:
                    taken = conn.execute(schema.TAKE_REPLY, (row[0],)).rowcount
                if taken:
                    return loads_envelope(bytes(row[1]))
                continue
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(REPLY_POLL, pause * 1.5)

    def delete_queue(self, queue: str, exchange: str = "", routing_key: str = "") -> None:
        """Drop the queue's bindings and replies."""
        with self._fanout_conn() as conn:
            conn.execute(schema.UNBIND_QUEUE, (queue,))
            conn.execute(schema.DROP_REPLIES, (queue,))
