"""What the Redis broker stores, read and written: replies as text, deliveries, kombu's restore."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Delivery

__all__ = [
    "ScriptArg",
    "clamp_priority",
    "decode",
    "flatten",
    "restore_payload",
    "task_of",
    "text",
]

#: A value passed to a Lua script (redis-py encodes each as a bulk string).
ScriptArg = str | bytes | int | float


def text(value: object) -> str:
    """A Redis reply (bytes) as text; anything else through ``str``."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def decode(tag: str, queue: str, count: int, raw: bytes) -> Delivery:
    """The delivery of a leased item (``message=None`` with the error for garbage)."""
    try:
        message = loads_envelope(raw)
    except (DecodeError, ValueError, TypeError) as exc:
        return Delivery(None, queue, tag, count, raw=raw, error=str(exc))
    return Delivery(message, queue, tag, count)


def task_of(raw: bytes, message: Message | None) -> tuple[str, str]:
    """The task id and name in a message's headers (``""`` when they cannot be read)."""
    if message is None:
        try:
            message = loads_envelope(raw)
        except (DecodeError, ValueError, TypeError):
            return "", ""
    task_id, task_name = message.headers.get("id"), message.headers.get("task")
    return ("" if task_id is None else str(task_id), "" if task_name is None else str(task_name))


def clamp_priority(value: object) -> int:
    """A priority as kombu stores it: an int from 0 to 9 (0 for anything unreadable)."""
    if not isinstance(value, str | bytes | int | float):
        return 0
    try:
        return max(0, min(9, int(value)))
    except (TypeError, ValueError):
        return 0


def restore_payload(value: bytes | str) -> tuple[bytes, str, str, int] | None:
    """kombu's restore of one ``unacked`` record: the envelope with ``redelivered`` set.

    Returns ``(envelope bytes, exchange, routing_key, priority)``, or None when the record
    is not ``[envelope, exchange, routing_key]``.
    """
    try:
        envelope, exchange, routing_key = json.loads(value)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict):
        return None
    try:
        envelope["headers"]["redelivered"] = True
        envelope["properties"]["delivery_info"]["redelivered"] = True
    except (KeyError, TypeError):
        pass
    properties = envelope.get("properties")
    priority = clamp_priority(properties.get("priority")) if isinstance(properties, dict) else 0
    payload = json.dumps(envelope).encode("ascii")
    return payload, str(exchange or ""), str(routing_key or ""), priority


def flatten(items: Iterable[list[ScriptArg]]) -> Iterator[ScriptArg]:
    """The items of several argument lists, in order (one script call's ARGV)."""
    for item in items:
        yield from item
