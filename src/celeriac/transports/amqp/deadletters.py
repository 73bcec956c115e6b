"""The dead-letter queue (``celeriac.dead_letters``): list by queue, requeue, discard.

RabbitMQ has no ids of its own for queued messages, so a dead letter's id is a digest of
what RabbitMQ stores for it (body, headers and properties), stable while it waits. Every
operation takes the queue's messages with ``basic.get`` on a channel of its own; listing
closes the channel (which hands them all back, in order); requeue and discard settle the
ones asked for first: a requeued message is published again (confirmed) to the default
exchange with its queue's name, without celeriac's dead-letter headers, and only then
acked out of the dead-letter queue. Each id acts on one message (two identical dead
letters share an id: the second is still listed afterwards).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import amqp

from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.transports.amqp.messages import DEAD_AT, DEAD_QUEUE, DEAD_REASON
from celeriac.transports.amqp.options import DEAD_LETTER_QUEUE
from celeriac.transports.amqp.publish import Publish
from celeriac.transports.amqp.settle import dead_letters_spec
from celeriac.transports.amqp.sync import SyncChannel
from celeriac.transports.base import DeadLetter

__all__ = ["DeadLetterQueue"]

_OURS = (DEAD_AT, DEAD_QUEUE, DEAD_REASON)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _body(message: Any) -> bytes:
    return message.body.encode() if isinstance(message.body, str) else bytes(message.body)


def _headers(message: Any) -> dict[str, Any]:
    return dict(message.properties.get("application_headers") or {})


def letter_id(message: Any) -> str:
    """A dead letter's id: a digest of its body, headers and properties."""
    digest = hashlib.sha256(_body(message))
    digest.update(json.dumps(message.properties, sort_keys=True, default=repr).encode())
    return digest.hexdigest()[:24]


def _home(headers: dict[str, Any]) -> str | None:
    """The queue a dead letter came from (ours, else RabbitMQ's ``x-death``)."""
    if headers.get(DEAD_QUEUE):
        return _text(headers[DEAD_QUEUE])
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        queue = deaths[0].get("queue")
        return None if queue is None else _text(queue)
    return None


def _message(message: Any, headers: dict[str, Any]) -> Message:
    """A dead letter as kombu's JSON envelope: body, headers and properties in one."""
    props = message.properties
    properties: dict[str, Any] = {
        name: _text(props[name])
        for name in ("correlation_id", "reply_to", "message_id")
        if props.get(name) is not None
    }
    properties["delivery_mode"] = props.get("delivery_mode") or 2
    properties["priority"] = props.get("priority") or 0
    return Message(
        body=_body(message),
        content_type=_text(props.get("content_type") or ""),
        content_encoding=_text(props.get("content_encoding") or ""),
        headers={_text(k): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()},
        properties=properties,
    )


def dead_letter_of(message: Any) -> DeadLetter:
    """The :class:`DeadLetter` of a message taken from the dead-letter queue."""
    headers = _headers(message)
    task_id = headers.get("id") or message.properties.get("correlation_id")
    task_name = headers.get("task")
    return DeadLetter(
        queue=_home(headers) or "",
        reason=_text(headers.get(DEAD_REASON, "")),
        raw=dumps_envelope(_message(message, headers)),
        created_at=float(headers.get(DEAD_AT) or 0) / 1000,
        task_id=None if task_id is None else _text(task_id),
        task_name=None if task_name is None else _text(task_name),
        id=letter_id(message),
    )


def _revived(message: Any) -> amqp.Message:
    """The message as it was before it was dead-lettered (celeriac's headers dropped)."""
    properties = dict(message.properties)
    headers = {k: v for k, v in _headers(message).items() if k not in _OURS}
    properties["application_headers"] = headers
    return amqp.Message(_body(message), **properties)


class DeadLetterQueue(Publish):
    """The :class:`~celeriac.transports.contracts.DeadLetters` capability (sync)."""

    def _each_dead(self, what: str, visit: Callable[[SyncChannel, Any, Any], bool]) -> None:
        """Call ``visit(item, channel, message)`` for each message of the dead-letter queue,
        oldest first, until it returns False; unsettled messages go back when done."""

        def run(item: SyncChannel) -> None:
            dead = self.config.own(DEAD_LETTER_QUEUE)
            item.declare(dead_letters_spec(dead))
            channel = item.conn.channel()
            try:
                while (message := channel.basic_get(dead, no_ack=False)) is not None:
                    if not visit(item, channel, message):
                        break
            finally:
                channel.close()  # hands back every message not acked, in order

        self.pool.run(what, run)

    def list_dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest last."""
        found: list[DeadLetter] = []

        def visit(item: SyncChannel, channel: Any, message: Any) -> bool:
            if queue is None or _home(_headers(message)) == queue:
                found.append(dead_letter_of(message))
            return True

        self._each_dead("Reading the dead letters", visit)
        return found[-limit:] if limit > 0 else []

    def _settle(self, ids: Sequence[str], requeue: bool) -> int:
        wanted = set(ids)
        done = 0

        def visit(item: SyncChannel, channel: Any, message: Any) -> bool:
            nonlocal done
            key = letter_id(message)
            if key not in wanted:
                return True
            if requeue:
                home = _home(_headers(message))
                if home is None:
                    return True  # nowhere to send it: it stays
                item.declare(self.config.topology.queue(home))
                channel.basic_publish(_revived(message), exchange="", routing_key=home)
            channel.basic_ack(message.delivery_tag)
            wanted.discard(key)
            done += 1
            return bool(wanted)

        if wanted:
            verb = "Requeueing" if requeue else "Discarding"
            self._each_dead(f"{verb} dead letters", visit)
        return done

    def requeue_dead_letters(self, ids: Sequence[str]) -> int:
        """Publish each again to its queue (confirmed), then remove it from dead letters."""
        return self._settle(ids, requeue=True)

    def discard_dead_letters(self, ids: Sequence[str]) -> int:
        """Remove dead letters for good; return how many were removed."""
        return self._settle(ids, requeue=False)
