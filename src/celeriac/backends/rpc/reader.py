"""The client side of ``rpc://``: one reply queue per process, read by one consumer.

Every task this process sends names its reply queue (``app.reply_to``, Celery's
``oid``) as ``reply_to``; workers send each state there. The reader declares the queue
before the first task is sent (as Celery's ``on_task_call`` does, so no early result is
dropped), consumes it with ``no_ack`` once a result is asked for, and keeps the latest
state of every task id it saw: a thread waiting on one task buffers the states of the
others, which are then read from memory. A result can therefore be read by one client
only, the one that sent the task (Celery's rule for ``rpc://``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import amqp

from celeriac import states
from celeriac.backends.rpc.connection import (
    CONNECTION_ERRORS,
    RPCSettings,
    connect,
    declare_reply_queue,
)
from celeriac.exceptions import TimeoutError as ResultTimeout
from celeriac.utils.log import own_logger

__all__ = ["ReplyReader"]

logger = own_logger(__name__)

#: Decodes a reply: ``(body, content_type, content_encoding) -> meta``.
Decoder = Callable[[bytes, str, str], dict[str, Any]]

#: States of tasks nobody asked for yet are kept up to this many task ids (oldest dropped).
MAX_BUFFERED = 10_000

#: Longest single wait on the socket, so a waiter checks its deadline and its peers.
_SLICE = 0.25


class ReplyReader:
    """Reads one reply queue for every thread of a process.

    Args:
        settings: the broker settings.
        queue: the reply queue's name (the ``reply_to`` of this process's tasks).
        decode: turns a message body into a result meta.
    """

    def __init__(self, settings: RPCSettings, queue: str, decode: Decoder) -> None:
        self.settings = settings
        self.queue = queue
        self._decode = decode
        self._io = threading.Lock()  # one thread uses the connection at a time
        self._seen = threading.Condition()  # guards _metas, wakes waiters
        self._metas: dict[str, dict[str, Any]] = {}
        self._conn: amqp.Connection | None = None
        self._channel: Any = None
        self._consuming = False

    # -- the connection ------------------------------------------------------------------
    def declare(self) -> None:
        """Make sure the reply queue exists (before a task naming it is sent)."""
        if self._conn is not None:
            return
        with self._io:
            self._open()

    def _open(self) -> None:
        if self._conn is None:
            conn = connect(self.settings, confirm=False)
            try:
                channel = conn.channel()
                declare_reply_queue(channel, self.queue, self.settings.expires)
            except BaseException:
                conn.collect()
                raise
            self._conn, self._channel, self._consuming = conn, channel, False

    def _consume(self) -> None:
        self._open()
        if not self._consuming:
            self._channel.basic_consume(self.queue, no_ack=True, callback=self._on_message)
            self._consuming = True

    def _drop(self, exc: BaseException) -> None:
        logger.warning("rpc:// reply queue %s: connection lost (%s); reconnecting", self.queue, exc)
        conn, self._conn, self._channel, self._consuming = self._conn, None, None, False
        if conn is not None:
            try:
                conn.collect()
            except Exception:  # already gone
                pass

    def close(self) -> None:
        """Close the connection (the queue is deleted by RabbitMQ once unconsumed)."""
        with self._io:
            conn, self._conn, self._channel, self._consuming = self._conn, None, None, False
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already gone
                pass

    # -- messages --------------------------------------------------------------------------
    def _on_message(self, message: amqp.Message) -> None:
        props = message.properties
        body = message.body
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        try:
            meta = self._decode(
                raw,
                str(props.get("content_type") or "application/json"),
                str(props.get("content_encoding") or "utf-8"),
            )
        except Exception as exc:
            logger.error("rpc:// reply queue %s: undecodable result dropped: %r", self.queue, exc)
            return
        task_id = props.get("correlation_id") or meta.get("task_id")
        if not task_id:
            return
        self.remember(str(task_id), meta)

    def remember(self, task_id: str, meta: dict[str, Any]) -> None:
        """Keep ``meta`` as the task's latest state (a ready state is never replaced)."""
        with self._seen:
            known = self._metas.get(task_id)
            if known is not None and known.get("status") in states.READY_STATES:
                return
            self._metas.pop(task_id, None)
            self._metas[task_id] = meta
            while len(self._metas) > MAX_BUFFERED:
                del self._metas[next(iter(self._metas))]
            self._seen.notify_all()

    def latest(self, task_id: str) -> dict[str, Any] | None:
        """The latest state received for ``task_id`` (None: nothing yet)."""
        with self._seen:
            return self._metas.get(task_id)

    def forget(self, task_id: str) -> None:
        """Drop what was received for ``task_id``."""
        with self._seen:
            self._metas.pop(task_id, None)

    # -- reading -----------------------------------------------------------------------------
    def poll(self) -> None:
        """Take in every state the broker has sent so far (one round trip)."""
        if not self._io.acquire(timeout=_SLICE):
            return  # another thread is reading: what it reads lands in the buffer
        try:
            self._consume()
            # a synchronous method: the deliveries sent before its answer are handled first
            self._channel.basic_qos(0, 0, False)
        except CONNECTION_ERRORS as exc:
            self._drop(exc)
        finally:
            self._io.release()

    def wait(self, task_id: str, timeout: float | None) -> dict[str, Any]:
        """Block until ``task_id`` is ready; return its meta.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._seen:
                meta = self._metas.get(task_id)
                if meta is not None and meta.get("status") in states.READY_STATES:
                    return meta
            left = _SLICE if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise ResultTimeout(f"The operation timed out waiting for task {task_id}")
            if self._io.acquire(blocking=False):
                try:
                    self._drain(min(left, _SLICE))
                finally:
                    self._io.release()
            else:  # another thread reads the queue: wait for what it finds
                with self._seen:
                    if task_id not in self._metas or (
                        self._metas[task_id].get("status") not in states.READY_STATES
                    ):
                        self._seen.wait(min(left, _SLICE))

    def _drain(self, seconds: float) -> None:
        try:
            self._consume()
            assert self._conn is not None
            self._conn.drain_events(timeout=seconds)
        except TimeoutError:  # socket.timeout: nothing arrived in time
            pass
        except CONNECTION_ERRORS as exc:
            self._drop(exc)
            time.sleep(min(seconds, 0.1))
