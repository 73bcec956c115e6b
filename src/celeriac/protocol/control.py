"""Remote control ("pidbox") messages: Celery's request and reply shapes, and node matching.

A request is broadcast on the fanout exchange ``<control_exchange>.pidbox``; its body is
``{"method", "arguments", "destination", "pattern", "matcher"[, "ticket", "reply_to"]}``
and its headers carry the sender's ``clock`` and ``expires``. A reply goes to the direct
exchange ``reply.<control_exchange>.pidbox`` with the client's oid as routing key; its body
is ``{<node name>: <result>}`` and its headers carry ``ticket`` and ``clock``
(WIRE-PROTOCOL.md §7).
"""

from __future__ import annotations

import fnmatch
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from celeriac.exceptions import DecodeError
from celeriac.protocol.message import Message
from celeriac.protocol.serializers import dumps, loads

__all__ = [
    "ControlReply",
    "ControlRequest",
    "build_reply",
    "build_request",
    "exchange_names",
    "make_oid",
    "node_matches",
    "parse_reply",
    "parse_request",
    "reply_queue_name",
]


def exchange_names(control_exchange: str = "celery") -> tuple[str, str]:
    """``(request exchange, reply exchange)``: ``celery.pidbox``, ``reply.celery.pidbox``."""
    return f"{control_exchange}.pidbox", f"reply.{control_exchange}.pidbox"


def reply_queue_name(oid: str, control_exchange: str = "celery") -> str:
    """The client's reply queue: ``<oid>.reply.celery.pidbox``."""
    return f"{oid}.{exchange_names(control_exchange)[1]}"


def make_oid() -> str:
    """A fresh UUID-shaped reply-queue id (kombu derives one per process; any UUID will do)."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class ControlRequest:
    """A decoded remote-control request."""

    method: str
    arguments: dict[str, Any] = field(default_factory=dict)
    destination: list[str] | None = None
    pattern: str | None = None
    matcher: str | None = None
    ticket: str | None = None
    #: ``{"exchange": …, "routing_key": …}`` when a reply is wanted
    reply_to: dict[str, str] | None = None
    clock: int = 0
    content_type: str = "application/json"


@dataclass(slots=True)
class ControlReply:
    """A decoded reply: ``{node: result}`` for the request with ``ticket``."""

    ticket: str | None
    body: dict[str, Any]
    clock: int = 0
    expires: float | None = None


def build_request(
    method: str,
    arguments: dict[str, Any] | None = None,
    *,
    destination: list[str] | None = None,
    pattern: str | None = None,
    matcher: str | None = None,
    ticket: str | None = None,
    reply_to: dict[str, str] | None = None,
    clock: int = 0,
    timeout: float | None = None,
    serializer: str = "json",
) -> Message:
    """A control request message as Celery's ``Mailbox._broadcast`` publishes it."""
    body: dict[str, Any] = {
        "method": method,
        "arguments": dict(arguments or {}),
        "destination": list(destination) if destination else None,
        "pattern": pattern if pattern and matcher else None,
        "matcher": matcher if pattern and matcher else None,
    }
    if reply_to is not None:
        body["ticket"] = ticket or str(uuid.uuid4())
        body["reply_to"] = dict(reply_to)
    content_type, encoding, payload = dumps(body, serializer)
    return Message(
        body=payload,
        content_type=content_type,
        content_encoding=encoding,
        headers={"clock": clock, "expires": time.time() + timeout if timeout else 0},
        properties={"delivery_mode": 2, "priority": 0},
    )


def _decode_body(message: Message, accept: list[str] | None) -> Any:
    return loads(message.body, message.content_type, message.content_encoding, accept=accept)


def parse_request(message: Message, accept: list[str] | None = None) -> ControlRequest:
    """Decode a control request.

    Raises:
        DecodeError: the body is not a control request.
        ContentDisallowed: the content type is not in ``accept``.
    """
    body = _decode_body(message, accept)
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        raise DecodeError("control request has no 'method'")
    arguments = body.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise DecodeError("control request 'arguments' is not an object")
    destination = body.get("destination")
    if isinstance(destination, str):
        destination = [destination]
    reply_to = body.get("reply_to")
    clock = message.headers.get("clock")
    return ControlRequest(
        method=body["method"],
        arguments=arguments,
        destination=list(destination) if destination else None,
        pattern=body.get("pattern"),
        matcher=body.get("matcher"),
        ticket=body.get("ticket"),
        reply_to=reply_to if isinstance(reply_to, dict) and reply_to.get("routing_key") else None,
        clock=int(clock) if isinstance(clock, int | float) else 0,
        content_type=message.content_type,
    )


def node_matches(request: ControlRequest, nodename: str) -> bool:
    """Whether ``nodename`` should handle the request (destination list, else pattern)."""
    if request.destination:
        return nodename in request.destination
    if request.pattern and request.matcher:
        if request.matcher == "glob":
            return fnmatch.fnmatchcase(nodename, request.pattern)
        if request.matcher == "pcre":
            try:
                return re.search(request.pattern, nodename) is not None
            except re.error:
                return False
        return False
    return True


def build_reply(
    nodename: str,
    result: Any,
    *,
    ticket: str | None,
    clock: int = 0,
    serializer: str = "json",
) -> Message:
    """A reply message: body ``{nodename: result}``, headers ``ticket`` and ``clock``."""
    content_type, encoding, payload = dumps({nodename: result}, serializer)
    return Message(
        body=payload,
        content_type=content_type,
        content_encoding=encoding,
        headers={"ticket": ticket, "clock": clock},
        properties={"delivery_mode": 1, "priority": 0},
    )


def parse_reply(message: Message, accept: list[str] | None = None) -> ControlReply:
    """Decode a reply.

    Raises:
        DecodeError: the body is not a ``{node: result}`` object.
    """
    body = _decode_body(message, accept)
    if not isinstance(body, dict):
        raise DecodeError("control reply is not an object")
    clock = message.headers.get("clock")
    expires = message.headers.get("expires")
    ticket = message.headers.get("ticket")
    return ControlReply(
        ticket=str(ticket) if ticket is not None else None,
        body=body,
        clock=int(clock) if isinstance(clock, int | float) else 0,
        expires=float(expires) if isinstance(expires, int | float) and expires else None,
    )
