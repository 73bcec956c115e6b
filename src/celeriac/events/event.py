"""Celery's ``celery.events.event``: build an event dict, and the events exchange.

``Event("task-custom", uuid=..., info=...)`` is what ``EventDispatcher.send`` sends for a
project's own event type: the fields, a ``timestamp`` (now, unless given) and the
``type``. Events travel on the ``celeryev`` topic exchange (``event_exchange`` setting);
on Redis Celery declares it as fanout, as :func:`get_exchange` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from celeriac.config.entities import Exchange
from celeriac.protocol.events import group_from

__all__ = ["Event", "event_exchange", "get_exchange", "group_from"]

#: The exchange events are published to (Celery's default name).
EVENT_EXCHANGE_NAME = "celeryev"
#: The events exchange as Celery declares it.
event_exchange = Exchange(EVENT_EXCHANGE_NAME, type="topic")


def Event(
    type: str,
    _fields: Mapping[str, Any] | None = None,
    __dict__: Callable[..., dict[str, Any]] = dict,
    __now__: Callable[[], float] = time.time,
    **fields: Any,
) -> dict[str, Any]:
    """An event: ``_fields`` and ``fields``, ``timestamp`` (now unless given) and ``type``."""
    event = __dict__(_fields, **fields) if _fields else __dict__(**fields)
    if "timestamp" not in event:
        event.update(timestamp=__now__(), type=type)
    else:
        event["type"] = type
    return event


def get_exchange(conn: Any, name: str = EVENT_EXCHANGE_NAME) -> Exchange:
    """The events exchange for a connection: fanout on Redis (as Celery), else topic."""
    transport = getattr(conn, "transport", conn)
    driver = getattr(transport, "driver_type", None) or type(transport).__module__
    kind = "fanout" if "redis" in str(driver) or "sentinel" in str(driver) else "topic"
    if kind == event_exchange.type and name == event_exchange.name:
        return event_exchange  # immutable: shared safely
    return Exchange(name, type=kind)
