"""A py-amqp message whose header frame is encoded faster, byte for byte as py-amqp does.

py-amqp encodes the properties of every publish (a Celery task message's ~20 headers)
through generic code: ``BytesIO`` writes and an ``isinstance`` chain per value, about a
fifth of a ``delay()``. :class:`FastMessage` encodes the same bytes (the tests compare
them with py-amqp's) with a dispatch on the exact type of each value, and falls back to
py-amqp for anything unusual (``Decimal``, ``datetime``, subclasses).
"""

from __future__ import annotations

from struct import Struct
from typing import Any

import amqp

__all__ = ["FastMessage", "encode_table"]

_U8 = Struct("B")
_U16 = Struct(">H")
_U32 = Struct(">I")
_I32 = Struct(">i")
_I64 = Struct(">q")
_U64 = Struct(">Q")
_F64 = Struct(">d")


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
