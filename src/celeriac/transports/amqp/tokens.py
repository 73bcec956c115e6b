"""A value kept in RabbitMQ as the one message of a queue, taken and put back as a mutex.

RabbitMQ has no key/value store, so beat's lock state and the global rate limits keep
their value as the single message of a durable queue (``x-max-length: 1``,
``x-overflow: drop-head``). Whoever ``basic.get``\\s it holds it (unacked) until it
publishes the new value and acks the old one: nobody else can take it meanwhile, so
read-modify-write is atomic across processes. A holder that dies mid-way hands it back
when its channel closes. A queue found empty for :data:`EMPTY_FOR` seconds has no value
(first use); the value is then created.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import amqp

from celeriac.transports.amqp.sync import SyncChannel

__all__ = ["EMPTY_FOR", "update_token"]

#: Seconds of finding the queue empty that mean "no value yet" (a held value comes back
#: within a round trip or two).
EMPTY_FOR = 0.15
_ARGUMENTS = {"x-max-length": 1, "x-overflow": "drop-head"}


def update_token(item: SyncChannel, queue: str, change: Callable[[Any], Any | None]) -> Any:
    """Take the value of ``queue``, call ``change(value)`` and store what it returns.

    ``value`` is None when there is none yet. ``change`` returning None leaves the
    value as it was (a read). Returns what ``change`` returned, or the value read.
    """
    if f"token:{queue}" not in item.declared:
        item.channel.queue_declare(
            queue, durable=True, exclusive=False, auto_delete=False, arguments=dict(_ARGUMENTS)
        )
        item.declared.add(f"token:{queue}")
    channel = item.conn.channel()
    try:
        taken = _take(channel, queue)
        value = json.loads(taken.body) if taken is not None else None
        new = change(value)
        if new is not None:
            body = amqp.Message(json.dumps(new), content_type="application/json", delivery_mode=2)
            item.channel.basic_publish(body, exchange="", routing_key=queue)
        if taken is not None:
            if new is None:
                channel.basic_reject(taken.delivery_tag, requeue=True)
            else:
                channel.basic_ack(taken.delivery_tag)
        return value if new is None else new
    finally:
        if channel.is_open:
            channel.close()


def _take(channel: Any, queue: str) -> Any:
    deadline = time.monotonic() + EMPTY_FOR
    pause = 0.002
    while True:
        message = channel.basic_get(queue, no_ack=False)
        if message is not None:
            return message
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
