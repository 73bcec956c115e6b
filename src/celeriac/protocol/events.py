"""Monitoring events: Celery's event dicts and the messages that carry them (sans-I/O).

An event is a flat JSON object: ``hostname``, ``utcoffset``, ``pid``, ``clock``, the
type's own fields, ``timestamp`` and ``type`` (Celery's key order). It travels on the
``celeryev`` exchange with routing key = type with ``-`` turned into ``.``
(``worker.heartbeat``); a batch of task events is one message whose body is a JSON array,
routing key ``<group>.multi``. Headers: ``{"hostname": <sender>}``; delivery mode 1
(WIRE-PROTOCOL.md §6).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from celeriac.exceptions import DecodeError
from celeriac.protocol.message import Message
from celeriac.protocol.serializers import dumps, loads

__all__ = [
    "Event",
    "TASK_EVENT_TYPES",
    "WORKER_EVENT_TYPES",
    "adjust_timestamp",
    "build_event_message",
    "event",
    "group_from",
    "parse_event_message",
    "routing_key_for",
    "utcoffset",
]

#: An event as it travels: a flat dict of JSON values.
Event = dict[str, Any]

#: The task events a Celery worker (and producer) sends.
TASK_EVENT_TYPES = (
    "task-sent",
    "task-received",
    "task-started",
    "task-succeeded",
    "task-failed",
    "task-retried",
    "task-revoked",
    "task-rejected",
)
#: The worker events (sent by the node, never batched).
WORKER_EVENT_TYPES = ("worker-online", "worker-heartbeat", "worker-offline")


def group_from(type_: str) -> str:
    """The group of an event type: ``task-sent`` → ``task``, ``worker-online`` → ``worker``."""
    return type_.split("-", 1)[0]


def routing_key_for(type_: str) -> str:
    """The routing key Celery publishes an event with: ``task-sent`` → ``task.sent``."""
    return type_.replace("-", ".")


def utcoffset(now: float | None = None) -> float:
    """This host's offset from UTC in hours, positive west of Greenwich (Celery's sign).

    Whole hours, as Celery computes it (floor division), sent as a float like Celery 5.7.
    """
    local = time.localtime(now)
    seconds = time.altzone if local.tm_isdst else time.timezone
    return float(seconds // 3600)


def adjust_timestamp(timestamp: float, offset: float, here: float | None = None) -> float:
    """A sender's ``timestamp`` moved into this host's time zone (Celery's receiver rule)."""
    local = utcoffset() if here is None else here
    return timestamp - (offset - local) * 3600


def event(
    type_: str,
    fields: Mapping[str, Any] | None = None,
    *,
    hostname: str,
    pid: int,
    clock: int | None,
    offset: float | None = None,
    timestamp: float | None = None,
) -> Event:
    """Build an event dict in Celery's key order (common fields, own fields, time, type).

    Args:
        type_: the event type (``task-succeeded``).
        fields: the type's own fields (``uuid``, ``result`` …).
        hostname: the sender's node name (``celery@host``, ``gen<pid>@host``).
        pid: the sender's process id.
        clock: the sender's Lamport clock after forwarding it.
        offset: :func:`utcoffset` (computed when omitted).
        timestamp: epoch seconds (now when omitted).
    """
    body: Event = {
        "hostname": hostname,
        "utcoffset": utcoffset() if offset is None else offset,
        "pid": pid,
        "clock": clock,
    }
    if fields:
        body.update(fields)
    body["timestamp"] = time.time() if timestamp is None else timestamp
    body["type"] = type_
    return body


#: Events are built from plain JSON values, so most batches need neither kombu's typed
#: markers nor the circular-reference check (a third of the encoding time of a batch).
_plain_json = json.JSONEncoder(check_circular=False).encode


def build_event_message(
    body: Event | Sequence[Event], *, hostname: str, serializer: str = "json"
) -> Message:
    """The message for one event, or for a batch (a list body, routing key ``*.multi``)."""
    value = list(body) if not isinstance(body, dict) else body
    try:
        if serializer != "json":
            raise TypeError
        payload = _plain_json(value).encode("utf-8")
        content_type, encoding = "application/json", "utf-8"
    except (TypeError, ValueError):  # another serializer, or values only kombu's JSON knows
        content_type, encoding, payload = dumps(value, serializer)
    return Message(
        body=payload,
        content_type=content_type,
        content_encoding=encoding,
        headers={"hostname": hostname},
        properties={"delivery_mode": 1, "priority": 0},
    )


def parse_event_message(message: Message, accept: Sequence[str] | None = None) -> list[Event]:
    """The events in a message: one, or every element of a batch.

    Raises:
        DecodeError: the body is not an event object or a list of them.
        ContentDisallowed: the content type is not in ``accept``.
    """
    body = loads(
        message.body,
        message.content_type,
        message.content_encoding,
        accept=list(accept) if accept is not None else None,
    )
    items = body if isinstance(body, list) else [body]
    events: list[Event] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise DecodeError("event message holds something that is not an event object")
        events.append(item)
    return events
