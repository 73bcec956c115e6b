"""Celery's ``backend.result_consumer`` for Redis: one shared pub/sub connection.

celeriac's own waits (``wait.py``) subscribe per thread and per event loop; this object
is Celery's lower-level interface, for code that drives subscriptions itself:
``start(task_id)``, ``consume_from``/``cancel_for``, ``drain_events(timeout)``,
``subscribed_to``, ``stop()``. Published results are handed to ``on_message(meta)``.

redis-py's ``PubSub`` is not safe for concurrent use, so every command on it runs under
one re-entrant lock. A ``cancel_for`` made while a command of this consumer is running on
the same thread (a finalizer run by the garbage collector in the middle of a SUBSCRIBE)
does not send its UNSUBSCRIBE inside the other one: it is queued and sent as soon as the
running command has returned. The drainer holds the lock only to read what is already
there, so subscribers never wait for a whole poll interval.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis.client

if TYPE_CHECKING:
    from celeriac.backends.redis.wait import RedisResultWaiting

__all__ = ["ResultConsumer"]

#: Longest time ``drain_events`` waits for the socket when given no timeout (seconds).
MAX_WAIT = 1.0


class ResultConsumer:
    """Subscriptions to result channels on one pub/sub connection, shared by threads.

    Attributes:
        subscribed_to: the channels (result keys, as bytes) subscribed to.
        on_message: called with each published result's meta (decoded).
    """

    def __init__(
        self,
        backend: RedisResultWaiting,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.backend = backend
        self.on_message = on_message
        self.subscribed_to: set[bytes] = set()
        self._pubsub: redis.client.PubSub | None = None
        self._reset_sync()

    def _reset_sync(self) -> None:
        self._lock = threading.RLock()
        self._running = False  # a command on the pub/sub connection is under way
        self._queued: list[bytes] = []  # unsubscribes left for the running command's end

    def _get_key_for_task(self, task_id: str) -> bytes:
        return self.backend.task_key(task_id).encode()

    # -- subscriptions -------------------------------------------------------------------
    def start(self, initial_task_id: str, **_: Any) -> None:
        """Open the pub/sub connection and subscribe to ``initial_task_id``'s channel."""
        with self._lock:
            self._pubsub = self.backend.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call,unused-ignore]
            self.subscribed_to.clear()
            self.consume_from(initial_task_id)

    def consume_from(self, task_id: str) -> None:
        """Subscribe to the task's result channel (starting the consumer if needed)."""
        with self._lock:
            if self._pubsub is None:
                self.start(task_id)
                return
            key = self._get_key_for_task(task_id)
            if key in self._queued:
                self._queued.remove(key)  # cancelled then wanted again: stay subscribed
            if key in self.subscribed_to:
                return
            self.subscribed_to.add(key)
            self._command("subscribe", key)

    def cancel_for(self, task_id: str) -> None:
        """Unsubscribe from the task's result channel."""
        key = self._get_key_for_task(task_id)
        with self._lock:
            if key not in self.subscribed_to:
                return
            self.subscribed_to.discard(key)
            if self._running:  # re-entered from inside a command: send it after
                self._queued.append(key)
                return
            self._command("unsubscribe", key)

    def _command(self, name: str, key: bytes) -> None:
        """Run one SUBSCRIBE/UNSUBSCRIBE, then the unsubscribes queued meanwhile."""
        self._running = True
        try:
            pubsub = self._pubsub
            if pubsub is not None:
                getattr(pubsub, name)(key)
            while self._queued:
                queued = self._queued.pop(0)
                if self._pubsub is not None:
                    self._pubsub.unsubscribe(queued)  # type: ignore[no-untyped-call,unused-ignore]
        finally:
            self._running = False

    # -- reading ---------------------------------------------------------------------------
    def drain_events(self, timeout: float | None = None) -> None:
        """Handle the results published within ``timeout`` seconds (at most one read)."""
        wait = MAX_WAIT if timeout is None else min(timeout, MAX_WAIT)
        with self._lock:
            pubsub = self._pubsub
            if pubsub is not None and self._read_ready(pubsub):
                return
            sock = getattr(pubsub.connection, "_sock", None) if pubsub is not None else None
        if sock is None:
            time.sleep(wait)
            return
        try:
            readable, _, _ = select.select([sock], [], [], wait)
        except (OSError, ValueError):  # closed meanwhile by stop() or a reconnect
            return
        if readable:
            with self._lock:
                if self._pubsub is pubsub and pubsub is not None:
                    self._read_ready(pubsub)

    def _read_ready(self, pubsub: redis.client.PubSub) -> bool:
        """Read and hand over the messages already received; False when there were none."""
        connection = pubsub.connection
        if connection is None or not connection.can_read(timeout=0):
            return False
        self._running = True
        try:
            message = pubsub.get_message(timeout=0)
        finally:
            self._running = False
        if self._queued:  # cancelled by a finalizer while reading
            self._command("unsubscribe", self._queued.pop(0))
        if message is not None and message.get("type") == "message":
            meta = self.backend.decode(message["data"])
            if self.on_message is not None:
                self.on_message(meta)
        return True

    # -- life cycle ------------------------------------------------------------------------
    def stop(self) -> None:
        """Close the pub/sub connection (the server forgets its subscriptions)."""
        with self._lock:
            pubsub, self._pubsub = self._pubsub, None
            self.subscribed_to.clear()
            self._queued.clear()
            if pubsub is not None:
                pubsub.close()

    def on_after_fork(self) -> None:
        """In a forked child: a fresh lock, and the parent's connection dropped unused."""
        self._reset_sync()
        self._pubsub = None
        self.subscribed_to.clear()
