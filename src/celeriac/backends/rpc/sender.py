"""The worker side of ``rpc://``: a task's states, sent to the caller's reply queue.

A result is a message to the default exchange with the caller's ``reply_to`` as
routing key and the task id as ``correlation_id``, the meta (with ``task_id``) as body,
as Celery's ``RPCBackend.store_result`` sends it (see the wire vector
``tests/data/celery-wire-vectors/18-amqp-rpc-results.json``). Publisher confirms are on:
the worker acks a task only after RabbitMQ took its result.
"""

from __future__ import annotations

import threading
from typing import Any

import amqp
import amqp.exceptions

from celeriac.backends.rpc.connection import CONNECTION_ERRORS, RPCSettings, connect
from celeriac.exceptions import BrokerError

__all__ = ["Reply", "ResultSender"]

#: ``(reply_to, correlation_id, body, content_type, content_encoding)``
Reply = tuple[str, str, bytes, str, str]


class ResultSender:
    """One confirm-mode connection shared by the threads of a process (behind a lock)."""

    def __init__(self, settings: RPCSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._conn: amqp.Connection | None = None
        self._channel: Any = None

    def send(self, replies: list[Reply]) -> None:
        """Publish each reply and wait for RabbitMQ's confirms; a dead connection is
        opened again once.

        Raises:
            BrokerError: the broker cannot be reached or did not confirm a reply.
        """
        if not replies:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._send(replies)
                    return
                except CONNECTION_ERRORS as exc:
                    self._drop()
                    if attempt == 2:
                        raise BrokerError(f"rpc:// sending a result failed: {exc}") from exc
                except amqp.exceptions.AMQPError as exc:
                    self._drop()
                    raise BrokerError(f"rpc:// result refused by RabbitMQ: {exc}") from exc

    def _send(self, replies: list[Reply]) -> None:
        if self._conn is None:
            self._conn = connect(self.settings, confirm=True)
            self._channel = self._conn.channel()
        mode = 2 if self.settings.persistent else 1
        for reply_to, correlation_id, body, content_type, encoding in replies:
            message = amqp.Message(
                body,
                content_type=content_type,
                content_encoding=encoding,
                delivery_mode=mode,
                priority=0,
                correlation_id=correlation_id,
                application_headers={},
            )
            self._channel.basic_publish(message, exchange="", routing_key=reply_to)

    def _drop(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already gone
                pass

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._drop()
