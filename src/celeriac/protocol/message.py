"""The broker message: headers, properties and serialized body, as kombu carries them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message"]


@dataclass(slots=True)
class Message:
    """One message as every transport carries it (kombu's triple).

    Attributes:
        body: the serialized (and possibly compressed) body bytes.
        content_type: the serializer's MIME type, e.g. ``application/json``.
        content_encoding: ``utf-8`` for text serializers, ``binary`` otherwise.
        headers: the message headers (for task messages: protocol v2 task headers).
        properties: AMQP-style properties: ``correlation_id``, ``reply_to``,
            ``delivery_mode``, ``priority``, ``expiration``, ``delivery_info``,
            ``delivery_tag``, ``body_encoding``.
    """

    body: bytes
    content_type: str = "application/json"
    content_encoding: str = "utf-8"
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def priority(self) -> int:
        """The message priority (0 when unset)."""
        value = self.properties.get("priority")
        return int(value) if isinstance(value, int | float) else 0

    @property
    def delivery_tag(self) -> str | None:
        """The publisher-assigned delivery tag (a UUID string), if any."""
        tag = self.properties.get("delivery_tag")
        return str(tag) if tag is not None else None
