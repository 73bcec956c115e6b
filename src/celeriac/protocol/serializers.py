"""Body serializers (kombu's registry): json with kombu's typed dialect, pickle, yaml, msgpack."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import pickle
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError

__all__ = [
    "Serializer",
    "accept_set",
    "dumps",
    "json_dumps",
    "json_loads",
    "loads",
    "serializer_for",
]


def _json_default(value: Any) -> Any:
    """Encode the types kombu's JSON dialect knows as ``{"__type__", "__value__"}`` objects."""
    to_json = getattr(value, "__json__", None)
    if callable(to_json):  # kombu asks __json__ first, before its own types
        return to_json()
    if isinstance(value, dt.datetime):
        return {"__type__": "datetime", "__value__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__type__": "date", "__value__": value.isoformat()}
    if isinstance(value, dt.time):
        return {"__type__": "time", "__value__": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"__type__": "decimal", "__value__": str(value)}
    if isinstance(value, uuid.UUID):
        return {"__type__": "uuid", "__value__": {"hex": value.hex}}
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return {"__type__": "bytes", "__value__": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"__type__": "base64", "__value__": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_TYPE_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    # kombu decodes dates through datetime.fromisoformat, so "2024-01-02T00:00" is accepted too
    "date": lambda v: dt.datetime.fromisoformat(v).date(),
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "uuid": lambda v: uuid.UUID(hex=v["hex"]) if isinstance(v, dict) else uuid.UUID(v),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": base64.b64decode,
}


def _json_object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        decoder = _TYPE_DECODERS.get(obj["__type__"])
        if decoder is None:
            raise DecodeError(f"unknown JSON __type__ {obj['__type__']!r}")
        return decoder(obj["__value__"])
    return obj


def json_dumps(value: Any) -> str:
    """Serialize with kombu's JSON dialect (typed markers, ASCII-escaped, kombu separators)."""
    return json.dumps(value, default=_json_default)


def json_loads(text: str | bytes) -> Any:
    """Deserialize kombu's JSON dialect, restoring typed markers."""
    return json.loads(text, object_hook=_json_object_hook)


def _yaml_dumps(value: Any) -> bytes:
    import yaml

    return yaml.safe_dump(value).encode("utf-8")


def _yaml_loads(data: bytes) -> Any:
    import yaml

    return yaml.safe_load(data)


def _msgpack_dumps(value: Any) -> bytes:
    import msgpack

    return bytes(msgpack.packb(value, use_bin_type=True))


def _msgpack_loads(data: bytes) -> Any:
    import msgpack

    return msgpack.unpackb(data, raw=False)


@dataclass(frozen=True, slots=True)
class Serializer:
    """One entry of the serializer registry."""

    name: str
    content_type: str
    content_encoding: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


_SERIALIZERS: tuple[Serializer, ...] = (
    Serializer(
        "json",
        "application/json",
        "utf-8",
        lambda v: json_dumps(v).encode("utf-8"),
        json_loads,
    ),
    Serializer(
        "pickle",
        "application/x-python-serialize",
        "binary",
        lambda v: pickle.dumps(v, protocol=4),
        pickle.loads,
    ),
    Serializer("yaml", "application/x-yaml", "utf-8", _yaml_dumps, _yaml_loads),
    Serializer("msgpack", "application/x-msgpack", "binary", _msgpack_dumps, _msgpack_loads),
)
_BY_NAME = {s.name: s for s in _SERIALIZERS}
_BY_TYPE = {s.content_type: s for s in _SERIALIZERS}
# Aliases kombu accepts in accept_content lists.
_BY_TYPE["application/yaml"] = _BY_NAME["yaml"]
_BY_TYPE["application/msgpack"] = _BY_NAME["msgpack"]
_BY_TYPE["application/x-yaml"] = _BY_NAME["yaml"]


def serializer_for(name_or_type: str) -> Serializer:
    """Look a serializer up by name (``json``) or content type (``application/json``).

    Raises:
        EncodeError: no serializer has that name or content type.
    """
    found = _BY_NAME.get(name_or_type) or _BY_TYPE.get(name_or_type)
    if found is None:
        known = ", ".join(sorted(_BY_NAME))
        raise EncodeError(f"unknown serializer {name_or_type!r} (known: {known})")
    return found


def accept_set(accept: Collection[str]) -> frozenset[str]:
    """Normalize an ``accept_content`` list (names or MIME types) to a set of content types."""
    types: set[str] = set()
    for item in accept:
        found = _BY_NAME.get(item) or _BY_TYPE.get(item)
        types.add(found.content_type if found else item)
    return frozenset(types)


def dumps(value: Any, serializer: str = "json") -> tuple[str, str, bytes]:
    """Serialize a value; return ``(content_type, content_encoding, payload)``.

    Raises:
        EncodeError: the value cannot be serialized with that serializer.
    """
    entry = serializer_for(serializer)
    try:
        return entry.content_type, entry.content_encoding, entry.encode(value)
    except EncodeError:
        raise
    except Exception as exc:
        raise EncodeError(f"cannot serialize with {entry.name}: {exc}") from exc


def loads(
    payload: bytes,
    content_type: str,
    content_encoding: str = "utf-8",
    *,
    accept: Collection[str] | None = None,
) -> Any:
    """Deserialize a payload, refusing content types not in ``accept``.

    Args:
        payload: the serialized bytes.
        content_type: the MIME type the payload claims.
        content_encoding: the text encoding (``utf-8``) or ``binary``.
        accept: allowed content types or serializer names; ``None`` allows every registered one.

    Raises:
        ContentDisallowed: the content type is not accepted.
        DecodeError: the payload cannot be decoded.
    """
    if accept is not None and content_type not in accept and content_type not in accept_set(accept):
        raise ContentDisallowed(
            f"refusing to deserialize content of type {content_type!r} "
            f"(accept_content allows: {', '.join(sorted(accept)) or 'nothing'})"
        )
    entry = _BY_TYPE.get(content_type)
    if entry is None:
        if content_type in ("application/data", "application/text"):
            return payload
        raise DecodeError(f"no serializer for content type {content_type!r}")
    try:
        return entry.decode(payload)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"cannot decode {entry.name} body: {exc}") from exc
