"""Rows to deliveries and back: payload bytes, decoding, the task a message names."""

from __future__ import annotations

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports.base import Delivery

__all__ = ["as_bytes", "decode", "task_of"]


def as_bytes(payload: bytes | str | memoryview) -> bytes:
    """A stored payload as bytes (SQLite may hand back text for a BLOB written as TEXT)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return bytes(payload)


def decode(row_id: int, queue: str, count: int, payload: bytes) -> Delivery:
    """The delivery of a leased row (``message=None`` with the error for garbage)."""
    try:
        message = loads_envelope(payload)
    except (DecodeError, ValueError, TypeError) as exc:
        return Delivery(None, queue, str(row_id), count, raw=payload, error=str(exc))
    return Delivery(message, queue, str(row_id), count)


def task_of(raw: bytes, message: Message | None) -> tuple[str | None, str | None]:
    """The task id and name in a message's headers, when they can be read."""
    if message is None:
        try:
            message = loads_envelope(raw)
        except (DecodeError, ValueError, TypeError):
            return None, None
    task_id, task_name = message.headers.get("id"), message.headers.get("task")
    return (
        str(task_id) if task_id is not None else None,
        str(task_name) if task_name is not None else None,
    )
