"""A publish's frames, encoded faster, byte for byte as py-amqp encodes them.

py-amqp encodes the properties of every publish (a Celery task message's ~20 headers)
through generic code: ``BytesIO`` writes and an ``isinstance`` chain per value, about a
fifth of a ``delay()``. :class:`FastMessage` encodes the same bytes (the tests compare
them with py-amqp's) with a dispatch on the exact type of each value, and falls back to
py-amqp for anything unusual (``Decimal``, ``datetime``, subclasses).

:func:`publish_frames` lays out a whole ``basic.publish`` (method, content header and body
frames) as py-amqp's frame writer does, so a pipelined producer writes it with one
``sendall`` and skips py-amqp's per-publish read of the socket (a ``drain_events`` with a
zero timeout, about a tenth of a ``delay()``); its confirm reader takes in whatever
RabbitMQ sends meanwhile.
"""

from __future__ import annotations

from struct import Struct
from typing import Any

import amqp

__all__ = ["FastMessage", "encode_table", "publish_frames"]

_U8 = Struct("B")
_U16 = Struct(">H")
_U32 = Struct(">I")
_I32 = Struct(">i")
_I64 = Struct(">q")
_U64 = Struct(">Q")
_F64 = Struct(">d")
#: a frame's type, channel and payload size; the payload; then the frame-end octet
_FRAME = Struct(">BHI")
_FRAME_END = b"\xce"
#: a content header's class (basic: 60), weight (0) and body size
_CONTENT_HEADER = Struct(">HHQ")
#: basic.publish: class 60, method 40, then its reserved short
_BASIC_PUBLISH = b"\x00\x3c\x00\x28\x00\x00"


class _Unusual(Exception):
    """A value this encoder leaves to py-amqp."""


def _item(value: Any, out: list[bytes]) -> None:
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogatepass")
        out.append(b"S" + _U32.pack(len(raw)) + raw)
    elif value is None:
        out.append(b"V")
    elif kind is bool:
        out.append(b"t\x01" if value else b"t\x00")
    elif kind is int:
        if value > 2147483647 or value < -2147483647:
            out.append(b"L" + _I64.pack(value))
        else:
            out.append(b"I" + _I32.pack(value))
    elif kind is dict:
        out.append(b"F" + encode_table(value))
    elif kind is list or kind is tuple:
        parts: list[bytes] = []
        for item in value:
            _item(item, parts)
        data = b"".join(parts)
        out.append(b"A" + _U32.pack(len(data)) + data)
    elif kind is bytes:
        out.append(b"S" + _U32.pack(len(value)) + value)
    elif kind is float:
        out.append(b"d" + _F64.pack(value))
    else:
        raise _Unusual(kind)


def encode_table(table: dict[Any, Any]) -> bytes:
    """An AMQP field table (``F``), as py-amqp's ``_write_table`` writes it."""
    parts: list[bytes] = []
    for key, value in table.items():
        if type(key) is not str:
            raise _Unusual(type(key))
        name = key.encode("utf-8", "surrogatepass")
        parts.append(_U8.pack(len(name)) + name)
        _item(value, parts)
    data = b"".join(parts)
    return _U32.pack(len(data)) + data


def _shortstr(value: Any) -> bytes:
    value = value or ""
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
    return _U8.pack(len(raw)) + raw


class FastMessage(amqp.Message):  # type: ignore[misc]
    """``amqp.Message`` with a faster, byte-identical ``_serialize_properties``."""

    def _serialize_properties(self) -> bytes:
        try:
            return self._encode_properties()
        except (_Unusual, TypeError, ValueError, OverflowError):
            result: bytes = super()._serialize_properties()
            return result

    def _encode_properties(self) -> bytes:
        props = self.properties
        flags: list[int] = []
        bits, shift = 0, 15
        values: list[bytes] = []
        for key, kind in self.PROPERTIES:
            value = props.get(key)
            if value is not None:
                if shift == 0:
                    flags.append(bits)
                    bits, shift = 0, 15
                bits |= 1 << shift
                if kind == "s":
                    values.append(_shortstr(value))
                elif kind == "F":
                    values.append(encode_table(value or {}))
                elif kind == "o":
                    values.append(_U8.pack(value))
                elif kind == "L":
                    values.append(_U64.pack(value))
                else:
                    raise _Unusual(kind)
            shift -= 1
        flags.append(bits)
        return b"".join([*(_U16.pack(flag) for flag in flags), *values])


def publish_frames(
    channel_id: int, exchange: str, routing_key: str, message: amqp.Message, frame_max: int
) -> bytes:
    """The frames of one ``basic.publish`` (not mandatory, not immediate) of ``message``,
    byte for byte what py-amqp's frame writer sends: the body is split into frames of at
    most ``frame_max - 8`` bytes, and an empty body has no body frame."""
    body = message.body
    if isinstance(body, str):
        body = body.encode(message.properties.setdefault("content_encoding", "utf-8"))
    method = b"".join([_BASIC_PUBLISH, _shortstr(exchange), _shortstr(routing_key), b"\x00"])
    header = _CONTENT_HEADER.pack(60, 0, len(body)) + message._serialize_properties()
    parts = [
        _FRAME.pack(1, channel_id, len(method)),
        method,
        _FRAME_END,
        _FRAME.pack(2, channel_id, len(header)),
        header,
        _FRAME_END,
    ]
    size = frame_max - 8
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        parts += [_FRAME.pack(3, channel_id, len(piece)), piece, _FRAME_END]
    return b"".join(parts)
