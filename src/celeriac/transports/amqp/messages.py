"""celeriac's :class:`Message` as AMQP basic properties and back (no envelope on AMQP).

The body travels as it is; the protocol-2 headers are the ``application_headers`` table;
``content_type``, ``correlation_id``, ``reply_to``, ``priority``, ``delivery_mode`` and
``expiration`` are basic properties, as kombu's py-amqp transport sends them. A received
message gets kombu's ``delivery_info`` (exchange, routing key, redelivered, priority).

Headers of celeriac's own, which Celery ignores, on dead letters only:
``x-celeriac-reason``, ``-queue`` and ``-dead-at`` (epoch milliseconds).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from celeriac.protocol.message import Message

__all__ = [
    "DEAD_AT",
    "DEAD_QUEUE",
    "DEAD_REASON",
    "from_amqp",
    "from_py_amqp",
    "identity",
    "properties_of",
]

DEAD_REASON = "x-celeriac-reason"
DEAD_QUEUE = "x-celeriac-queue"
DEAD_AT = "x-celeriac-dead-at"

#: Basic properties copied from a message's ``properties`` when present.
_COPIED = ("correlation_id", "reply_to", "expiration", "message_id", "user_id", "app_id")


#: Header value types that need no conversion (checked by exact type: the common case).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _clean(value: Any) -> Any:
    """A header value AMQP tables can carry (tuples as lists, nested alike)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, tuple | list):
        return [_clean(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _clean(item) for key, item in value.items()}
    return value


def properties_of(
    message: Message, *, priority: int | None = None, persistent: bool = True
) -> dict[str, Any]:
    """The basic properties to publish ``message`` with (keyword names of both clients)."""
    props = message.properties
    properties: dict[str, Any] = {
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "delivery_mode": int(props.get("delivery_mode") or (2 if persistent else 1)),
        "headers": {str(key): _clean(value) for key, value in message.headers.items()},
    }
    chosen = message.priority if priority is None else priority
    if chosen:
        properties["priority"] = max(0, min(255, int(chosen)))
    for name in _COPIED:
        value = props.get(name)
        if value is not None and value != "":
            properties[name] = str(value)
    return properties


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _decoded(value: Any) -> Any:
    """Header values as JSON would give them (py-amqp/pamqp return bytes and datetimes)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    if isinstance(value, dict):
        return {_text(key): _decoded(item) for key, item in value.items()}
    return value


def from_amqp(
    body: bytes,
    properties: Mapping[str, Any],
    *,
    exchange: str,
    routing_key: str,
    redelivered: bool,
) -> Message:
    """A received message: properties as kombu's ``Message.properties`` holds them."""
    headers = properties.get("headers") or {}
    props: dict[str, Any] = {
        name: _text(value)
        for name in ("correlation_id", "reply_to", "expiration", "message_id")
        if (value := properties.get(name)) is not None
    }
    props["delivery_mode"] = properties.get("delivery_mode") or 1
    priority = properties.get("priority") or 0
    props["priority"] = priority
    props["delivery_info"] = {
        "exchange": exchange,
        "routing_key": routing_key,
        "redelivered": redelivered,
        "priority": priority,
    }
    return Message(
        body=body,
        content_type=_text(properties.get("content_type") or ""),
        content_encoding=_text(properties.get("content_encoding") or ""),
        headers={
            (key if type(key) is str else _text(key)): (
                value if type(value) in _PLAIN else _decoded(value)
            )
            for key, value in headers.items()
        },
        properties=props,
    )


def identity(message: Message) -> str:
    """What names a message across deliveries: its id, else its task id and body."""
    found = message.properties.get("message_id") or message.headers.get("id")
    if found:
        return str(found)
    return f"{message.properties.get('correlation_id')}:{hash(message.body)}"


def from_py_amqp(message: Any, *, queue: str = "") -> Message:
    """A message received with py-amqp (``basic.get`` or a sync consumer)."""
    props = dict(message.properties)
    props["headers"] = props.pop("application_headers", None) or {}
    info = getattr(message, "delivery_info", None) or {}
    body = message.body.encode() if isinstance(message.body, str) else bytes(message.body)
    return from_amqp(
        body,
        props,
        exchange=str(info.get("exchange") or ""),
        routing_key=str(info.get("routing_key") or queue),
        redelivered=bool(info.get("redelivered")),
    )
