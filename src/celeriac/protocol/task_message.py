"""TaskMessage: one protocol 2 task, with its one encoder and its one decoder.

A :class:`TaskMessage` holds every field of a Celery protocol 2 task message once: the
headers (``WIRE-PROTOCOL.md`` §2.1), the body (``[args, kwargs, embed]``) and the AMQP
properties that belong to the task (``reply_to``, ``correlation_id``, ``priority``,
``delivery_mode``, ``delivery_info``). The producer builds one and :func:`encode`\\ s it;
the worker :func:`decode`\\ s what it receives into one, and a retry is a copy of it
(``dataclasses.replace``). Protocol 1 and "hybrid" bodies are read by
:mod:`celeriac.protocol.task_legacy` and decode to the same type.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from celeriac.exceptions import EncodeError, InvalidTaskError
from celeriac.protocol.compression import compress, decompress
from celeriac.protocol.message import Message
from celeriac.protocol.saferepr import saferepr
from celeriac.protocol.serializers import dumps, loads
from celeriac.protocol.signature_shape import check_signatures
from celeriac.protocol.task_legacy import read_dict_body

__all__ = [
    "HEADER_KEYS",
    "SignatureDict",
    "TaskMessage",
    "decode",
    "default_origin",
    "encode",
    "parse_when",
]

_UTC = dt.UTC

#: A signature as it travels in a message (``task``, ``args``, ``kwargs``, ``options`` …).
SignatureDict = dict[str, object]

#: Protocol 2 headers in the order Celery 5.7 writes them (every key always present).
HEADER_KEYS: tuple[str, ...] = (
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "replaced_task_nesting",
    "stamped_headers",
    "stamps",
)
_HEADER_KEY_SET = frozenset(HEADER_KEYS)

#: Properties the encoder computes itself, or that belong to one delivery (the transport's).
_OWN_PROPERTIES = frozenset(
    {
        "correlation_id",
        "reply_to",
        "delivery_mode",
        "expiration",
        "delivery_info",
        "priority",
        "body_encoding",
        "delivery_tag",
        "content_type",
        "content_encoding",
        "application_headers",
    }
)


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One protocol 2 task message as plain data (see ``WIRE-PROTOCOL.md`` §2.1).

    Field names are the header names, except ``name`` (header ``task``) and
    ``time_limit``/``soft_time_limit`` (``timelimit[0]``/``[1]``: ``None`` = not given,
    a number = given, so ``0`` travels as ``0`` and means "no limit", as in Celery).

    ``headers`` holds custom headers (``apply_async(headers=...)``), written after the
    protocol headers; a decoded message keeps every header it came with there, and the
    encoder skips the protocol ones (the fields win). ``properties`` likewise holds other
    properties (a decoded message: every property, ``delivery_tag`` included); the
    encoder keeps only those it does not compute or that belong to one delivery.
    ``delivery_info`` is ``{exchange, routing_key}`` (plus whatever a transport added to a
    received one); empty means the default exchange and ``celery``.

    Empty ``argsrepr``/``kwargsrepr``, a missing ``root_id`` or ``origin`` are filled in
    when encoding (``saferepr`` of the arguments, the task id, ``gen<pid>@<host>``).
    """

    id: str
    name: str
    args: list[object] = field(default_factory=list)
    kwargs: dict[str, object] = field(default_factory=dict)
    # the body's embed
    callbacks: list[SignatureDict] | None = None
    errbacks: list[SignatureDict] | None = None
    chain: list[SignatureDict] | None = None
    chord: SignatureDict | None = None
    # headers
    lang: str = "py"
    shadow: str | None = None
    eta: dt.datetime | None = None
    expires: dt.datetime | None = None
    group: str | None = None
    group_index: int | None = None
    retries: int = 0
    time_limit: float | None = None
    soft_time_limit: float | None = None
    root_id: str | None = None
    parent_id: str | None = None
    argsrepr: str = ""
    kwargsrepr: str = ""
    origin: str | None = None
    #: ``None``: left to the task (Celery's ``send_task`` without the option)
    ignore_result: bool | None = False
    replaced_task_nesting: int = 0
    stamped_headers: list[str] | None = None
    stamps: dict[str, object] = field(default_factory=dict)
    headers: dict[str, object] = field(default_factory=dict)
    # properties
    correlation_id: str | None = None
    reply_to: str | None = None
    priority: int = 0
    delivery_mode: int = 2
    delivery_info: dict[str, object] = field(default_factory=dict)
    properties: dict[str, object] = field(default_factory=dict)
    #: the protocol the message came in (1 for a Celery 3 body); always sent as 2
    protocol: int = 2

    @property
    def routing_key(self) -> str | None:
        """``delivery_info['routing_key']`` (the queue name on the default exchange)."""
        value = self.delivery_info.get("routing_key")
        return value if isinstance(value, str) else None

    @property
    def exchange(self) -> str | None:
        """``delivery_info['exchange']``."""
        value = self.delivery_info.get("exchange")
        return value if isinstance(value, str) else None

    def custom_headers(self) -> dict[str, object]:
        """The headers the encoder writes after the protocol headers."""
        return {
            key: value
            for key, value in self.headers.items()
            if key not in _HEADER_KEY_SET and key != "compression"
        }


# --------------------------------------------------------------------------- encode


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


def default_origin() -> str:
    """Return Celery's ``origin`` for this process: ``gen<pid>@<hostname>``."""
    return f"gen{os.getpid()}@{_hostname()}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)


def parse_when(
    value: dt.datetime | str | float | None, now: dt.datetime, what: str = "eta"
) -> dt.datetime | None:
    """An eta/expires option as an aware datetime (a number = seconds from ``now``).

    A naive datetime or ISO string means UTC (Celery workers would read a naive header
    in their local timezone).

    Raises:
        EncodeError: a string is not ISO 8601.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(dt.datetime.fromisoformat(value))
        except ValueError:
            raise EncodeError(f"task {what} is not an ISO 8601 datetime: {value!r}")
    return now + dt.timedelta(seconds=float(value))


def _expiration(expires: dt.datetime, now: dt.datetime) -> str:
    """The AMQP ``expiration`` property: milliseconds from now as a string, at least ``"0"``."""
    seconds = (_aware(expires) - now).total_seconds()
    return str(int(max(seconds, 0.0) * 1000))


def _headers(
    message: TaskMessage, args: list[object], kwargs: dict[str, object]
) -> dict[str, object]:
    headers: dict[str, object] = {
        "lang": message.lang,
        "task": message.name,
        "id": message.id,
        "shadow": message.shadow,
        "eta": None if message.eta is None else _aware(message.eta).isoformat(),
        "expires": None if message.expires is None else _aware(message.expires).isoformat(),
        "group": message.group,
        "group_index": message.group_index,
        "retries": message.retries,
        "timelimit": [message.time_limit, message.soft_time_limit],
        "root_id": message.root_id or message.id,
        "parent_id": message.parent_id,
        "argsrepr": message.argsrepr or saferepr(tuple(args)),
        "kwargsrepr": message.kwargsrepr or saferepr(kwargs),
        "origin": message.origin or default_origin(),
        "ignore_result": None if message.ignore_result is None else bool(message.ignore_result),
        "replaced_task_nesting": message.replaced_task_nesting,
        "stamped_headers": message.stamped_headers,
        "stamps": message.stamps,
    }
    if message.headers:
        headers.update(message.custom_headers())
    return headers


def _properties(message: TaskMessage, now: dt.datetime) -> dict[str, object]:
    # Celery builds {correlation_id, reply_to, **unconsumed options}; kombu then adds
    # delivery_mode and expiration; the transport adds delivery_info and priority.
    properties: dict[str, object] = {
        "correlation_id": message.id,
        "reply_to": message.reply_to or "",
    }
    for key, value in message.properties.items():
        if key not in _OWN_PROPERTIES:
            properties[key] = value
    properties["delivery_mode"] = message.delivery_mode
    if message.expires is not None:
        properties["expiration"] = _expiration(message.expires, now)
    properties["delivery_info"] = (
        dict(message.delivery_info)
        if message.delivery_info
        else {"exchange": "", "routing_key": "celery"}
    )
    properties["priority"] = message.priority or 0
    return properties


def encode(
    message: TaskMessage,
    *,
    serializer: str = "json",
    compression: str | None = None,
    now: dt.datetime | None = None,
) -> Message:
    """Encode a task message exactly as Celery 5.7 sends it (protocol 2).

    Args:
        message: the task.
        serializer: body serializer name (``json``, ``pickle``, ``yaml``, ``msgpack``).
        compression: compression method name, or None for none.
        now: the current time (aware), for the ``expiration`` property (milliseconds
            from now until ``expires``); defaults to now in UTC.

    Returns:
        The message, with its body serialized (and compressed when asked).

    Raises:
        TypeError: ``args`` is not a list or tuple, or ``kwargs`` is not a mapping.
        EncodeError: the body cannot be serialized or compressed.
    """
    args: object = message.args
    kwargs: object = message.kwargs
    if type(args) is not list:
        if not isinstance(args, list | tuple):
            raise TypeError(f"task args must be a list or tuple, not {type(args).__name__}")
        args = list(args)
    if type(kwargs) is not dict:
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"task keyword arguments must be a mapping, not {type(kwargs).__name__}"
            )
        kwargs = dict(kwargs)
    arg_list: list[object] = args
    kwarg_dict: dict[str, object] = kwargs
    now = _aware(now) if now is not None else dt.datetime.now(_UTC)
    headers = _headers(message, arg_list, kwarg_dict)
    embed = {
        "callbacks": message.callbacks,
        "errbacks": message.errbacks,
        "chain": message.chain,
        "chord": message.chord,
    }
    content_type, content_encoding, body = dumps([arg_list, kwarg_dict, embed], serializer)
    if compression:
        headers["compression"], body = compress(body, compression)
    return Message(
        body=body,
        content_type=content_type,
        content_encoding=content_encoding,
        headers=headers,
        properties=_properties(message, now),
    )


# --------------------------------------------------------------------------- decode


class _Embed(NamedTuple):
    callbacks: list[SignatureDict] | None
    errbacks: list[SignatureDict] | None
    chain: list[SignatureDict] | None
    chord: SignatureDict | None


_EMPTY_EMBED = _Embed(None, None, None, None)
#: The embed of a task with no callbacks, chain or chord (most messages).
_NO_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def decode(
    message: Message, *, accept: Collection[str] | None = None, max_size: int | None = None
) -> TaskMessage:
    """Decode a task message: protocol 2, protocol 1 (dict body, no ``task`` header) or hybrid.

    Args:
        message: the message as the transport delivered it.
        accept: allowed content types or serializer names (``accept_content``); None allows
            every registered serializer.
        max_size: the largest body accepted once decompressed (None: no limit).

    Raises:
        ContentDisallowed: the body's content type is not in ``accept``.
        DecodeError: the body cannot be decompressed or deserialized.
        InvalidTaskError: the message is not a valid task message (the text says why).
    """
    headers = message.headers
    body = message.body
    method = headers.get("compression")
    if method:
        body = decompress(body, method, max_size)
    payload = loads(body, message.content_type, message.content_encoding, accept=accept)
    if isinstance(payload, dict):
        legacy = read_dict_body(headers, payload)
        return _from_fields(
            legacy.fields,
            message,
            legacy.args,
            legacy.kwargs,
            legacy.embed,
            protocol=legacy.protocol,
            utc=legacy.utc,
        )
    if "task" not in headers:
        raise InvalidTaskError(
            "not a task message: no 'task' header (protocol 2) and the body is not a dict "
            f"(protocol 1); header keys: {sorted(headers)}"
        )
    if not isinstance(payload, list | tuple) or len(payload) != 3:
        got = (
            f"{len(payload)} items"
            if isinstance(payload, list | tuple)
            else f"type {type(payload).__name__}"
        )
        raise InvalidTaskError(
            f"task message body must be a 3-item list [args, kwargs, embed], got {got}"
        )
    args, kwargs, embed = payload
    return _from_fields(headers, message, args, kwargs, embed, protocol=2, utc=True)


def _from_fields(
    fields: Mapping[str, object],
    message: Message,
    args: object,
    kwargs: object,
    embed: object,
    *,
    protocol: int,
    utc: bool,
) -> TaskMessage:
    task_id = fields.get("id")
    name = fields.get("task")
    where = "header" if protocol == 2 else "body field"
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskError(f"task message has no valid 'id' {where} (got {task_id!r})")
    if not isinstance(name, str) or not name:
        raise InvalidTaskError(f"task message {task_id} has no valid 'task' {where} ({name!r})")
    if not isinstance(args, list | tuple):
        raise InvalidTaskError(
            f"task {name}[{task_id}]: args must be a list, not {type(args).__name__}"
        )
    if not isinstance(kwargs, dict):
        raise InvalidTaskError(
            f"task {name}[{task_id}]: kwargs must be a dict, not {type(kwargs).__name__}"
        )
    checked = _embed(embed, name, task_id)
    time_limit, soft_time_limit = _timelimit(fields.get("timelimit"), name, task_id)
    properties = message.properties
    delivery_info = properties.get("delivery_info")
    if not isinstance(delivery_info, dict):
        delivery_info = {}
    argsrepr = fields.get("argsrepr")
    kwargsrepr = fields.get("kwargsrepr")
    if protocol == 1:
        argsrepr = argsrepr or saferepr(tuple(args))
        kwargsrepr = kwargsrepr or saferepr(kwargs)
    stamps = fields.get("stamps")
    stamped_headers = fields.get("stamped_headers")
    ignore_result = fields.get("ignore_result")
    lang = fields.get("lang")
    delivery_mode = properties.get("delivery_mode")
    return TaskMessage(
        id=task_id,
        name=name,
        args=args if isinstance(args, list) else list(args),
        kwargs=kwargs,
        callbacks=checked.callbacks,
        errbacks=checked.errbacks,
        chain=checked.chain,
        chord=checked.chord,
        lang=lang if isinstance(lang, str) and lang else "py",
        eta=_parse_when(fields.get("eta"), "eta", utc),
        expires=_parse_when(fields.get("expires"), "expires", utc),
        retries=_int(fields.get("retries"), "retries", task_id) or 0,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        root_id=_str_or_none(fields.get("root_id")),
        parent_id=_str_or_none(fields.get("parent_id")),
        group=_str_or_none(fields.get("group")),
        group_index=_int(fields.get("group_index"), "group_index", task_id),
        shadow=_str_or_none(fields.get("shadow")),
        origin=_str_or_none(fields.get("origin")),
        ignore_result=None if ignore_result is None else bool(ignore_result),
        argsrepr=argsrepr if isinstance(argsrepr, str) else "",
        kwargsrepr=kwargsrepr if isinstance(kwargsrepr, str) else "",
        replaced_task_nesting=_int(
            fields.get("replaced_task_nesting"), "replaced_task_nesting", task_id
        )
        or 0,
        stamped_headers=stamped_headers if isinstance(stamped_headers, list) else None,
        stamps=stamps if isinstance(stamps, dict) else {},
        headers=dict(message.headers),
        reply_to=_str_or_none(properties.get("reply_to")),
        correlation_id=_str_or_none(properties.get("correlation_id")),
        priority=_priority(properties, delivery_info),
        delivery_mode=delivery_mode if isinstance(delivery_mode, int) else 2,
        delivery_info=delivery_info,
        properties=dict(properties),
        protocol=protocol,
    )


def _signatures(embed: Mapping[str, object], key: str, where: str) -> list[SignatureDict] | None:
    value = embed.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidTaskError(
            f"{where}: embed {key!r} must be a list of signatures or null, "
            f"not {type(value).__name__}"
        )
    signatures: list[SignatureDict] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidTaskError(
                f"{where}: embed {key!r} must hold signature dicts, not {type(item).__name__}"
            )
        signatures.append(item)
    return signatures


def _embed(embed: object, name: str, task_id: str) -> _Embed:
    """Validate the body's third item: {callbacks, errbacks, chain, chord} (None = empty)."""
    if embed is None or embed == _NO_EMBED:
        return _EMPTY_EMBED
    where = f"task {name}[{task_id}]"
    if not isinstance(embed, dict):
        raise InvalidTaskError(
            f"{where}: the body's third item must be a dict "
            f"{{callbacks, errbacks, chain, chord}}, not {type(embed).__name__}"
        )
    chord = embed.get("chord")
    if chord is not None and not isinstance(chord, dict):
        raise InvalidTaskError(
            f"{where}: embed 'chord' must be a signature dict or null, not {type(chord).__name__}"
        )
    checked = _Embed(
        _signatures(embed, "callbacks", where),
        _signatures(embed, "errbacks", where),
        _signatures(embed, "chain", where),
        chord,
    )
    check_signatures(
        [*(checked.callbacks or ()), *(checked.errbacks or ()), *(checked.chain or ())]
        + ([chord] if chord is not None else []),
        where,
    )
    return checked


def _timelimit(value: object, name: str, task_id: str) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            hard, soft = value
            return (
                None if hard is None else float(hard),
                None if soft is None else float(soft),
            )
        except (TypeError, ValueError):
            pass
    raise InvalidTaskError(
        f"task {name}[{task_id}]: 'timelimit' must be [hard, soft] seconds, got {value!r}"
    )


def _parse_when(value: object, what: str, utc: bool = True) -> dt.datetime | None:
    """Parse an ISO 8601 eta/expires into an aware datetime.

    A naive value is taken as UTC. Celery's worker takes it in the worker's local timezone
    (WIRE-PROTOCOL.md §2.1), which only matters for producers that omit the offset; every
    Celery 4+ producer sends one. Protocol 1 messages with ``utc: false`` are local time.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidTaskError(f"task {what!r} is not an ISO 8601 datetime: {value!r}")
    else:
        raise InvalidTaskError(f"task {what!r} must be an ISO 8601 string, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_UTC) if utc else parsed.astimezone()
    return parsed


def _int(value: object, what: str, task_id: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str | bytes | float):
        try:
            return int(value)
        except ValueError:
            pass
    raise InvalidTaskError(f"task {task_id}: {what!r} must be an integer, got {value!r}")


def _str_or_none(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _priority(properties: Mapping[str, object], delivery_info: Mapping[str, object]) -> int:
    value = properties.get("priority")
    if value is None:
        value = delivery_info.get("priority")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
