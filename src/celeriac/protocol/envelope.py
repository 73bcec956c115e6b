"""kombu's JSON envelope: how a Message is stored in a Redis list or a SQLite row."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from celeriac.exceptions import DecodeError
from celeriac.protocol.message import Message

__all__ = ["dumps_envelope", "loads_envelope"]


def dumps_envelope(message: Message) -> bytes:
    """Encode a message as kombu's Redis envelope (JSON, base64 body).

    A ``delivery_tag`` and ``body_encoding`` are added to the properties when missing,
    as kombu's publisher does.
    """
    properties = dict(message.properties)
    properties.setdefault("priority", 0)
    # kombu writes body_encoding, then delivery_tag, as the last two properties.
    delivery_tag = properties.pop("delivery_tag", None)
    properties["body_encoding"] = "base64"
    properties["delivery_tag"] = delivery_tag or str(uuid.uuid4())
    rest = json.dumps(
        {
            "content-encoding": message.content_encoding,
            "content-type": message.content_type,
            "headers": message.headers,
            "properties": properties,
        }
    )
    # the same bytes as json.dumps of the whole envelope: base64 needs no JSON escaping,
    # so the (largest) field is spliced in rather than scanned by the encoder
    return b'{"body": "' + base64.b64encode(message.body) + b'", ' + rest[1:].encode("ascii")


def loads_envelope(raw: bytes | str) -> Message:
    """Decode kombu's envelope into a Message.

    Raises:
        DecodeError: the bytes are not a JSON envelope, or its body cannot be decoded.
    """
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"message is not a JSON envelope: {exc}") from exc
    if not isinstance(data, dict) or "body" not in data:
        raise DecodeError("message is not a kombu envelope: no 'body' field")
    properties = data.get("properties") or {}
    headers = data.get("headers") or {}
    if not isinstance(properties, dict) or not isinstance(headers, dict):
        raise DecodeError("message envelope has malformed 'headers' or 'properties'")
    body = data["body"]
    if properties.get("body_encoding") == "base64":
        try:
            body_bytes = base64.b64decode(body, validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise DecodeError(f"message body is not valid base64: {exc}") from exc
    elif isinstance(body, str):
        body_bytes = body.encode("utf-8")
    elif isinstance(body, bytes):
        body_bytes = body
    else:
        body_bytes = json.dumps(body).encode("utf-8")
    return Message(
        body=body_bytes,
        content_type=str(data.get("content-type") or "application/json"),
        content_encoding=str(data.get("content-encoding") or "utf-8"),
        headers=headers,
        properties=properties,
    )
