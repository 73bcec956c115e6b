"""Task messages: build Celery protocol 2 messages, decode protocol 2, 1 and "hybrid" ones."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from celeriac.exceptions import EncodeError, InvalidTaskError
from celeriac.protocol.compression import compress, decompress
from celeriac.protocol.message import Message
from celeriac.protocol.serializers import dumps, loads

__all__ = [
    "HEADER_KEYS",
    "TaskCall",
    "build_task_message",
    "decode_task_message",
    "default_origin",
    "encode_task_call",
    "saferepr",
]

_UTC = dt.UTC

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

#: Properties this module computes itself, or that belong to one delivery (the transport's).
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

#: argsrepr/kwargsrepr limits, as Celery's ``argsrepr_maxsize`` and ``task_repr_maxlevels``.
REPR_MAXLEN = 1024
REPR_MAXLEVELS = 3


@dataclass(slots=True)
class TaskCall:
    """A decoded task message (protocol 2; protocol 1 and "hybrid" messages decode to it too).

    Attributes mirror the protocol 2 headers (see ``WIRE-PROTOCOL.md`` §2.1); ``name`` is
    header ``task``, ``time_limit``/``soft_time_limit`` are ``timelimit[0]``/``[1]``.
    ``headers`` and ``properties`` hold the message's as received (custom headers included).
    """

    id: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    callbacks: list[dict[str, Any]] | None = None
    errbacks: list[dict[str, Any]] | None = None
    chain: list[dict[str, Any]] | None = None
    chord: dict[str, Any] | None = None
    eta: dt.datetime | None = None
    expires: dt.datetime | None = None
    retries: int = 0
    time_limit: float | None = None
    soft_time_limit: float | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    shadow: str | None = None
    origin: str | None = None
    ignore_result: bool | None = None
    argsrepr: str = ""
    kwargsrepr: str = ""
    reply_to: str | None = None
    correlation_id: str | None = None
    priority: int = 0
    delivery_info: dict[str, Any] = field(default_factory=dict)
    replaced_task_nesting: int = 0
    stamped_headers: list[str] | None = None
    stamps: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    protocol: int = 2


# --------------------------------------------------------------------------- repr


class _ReprFull(Exception):
    """Raised inside saferepr when the length budget is spent."""


_CONTAINERS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    dict: ("{", "}"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}


def saferepr(value: Any, maxlen: int = REPR_MAXLEN, maxlevels: int = REPR_MAXLEVELS) -> str:
    """Return ``repr(value)`` cut to at most ``maxlen`` characters, as Celery's ``saferepr``.

    Containers nested ``maxlevels`` deep are shown as ``[...]``; a cut result ends with
    ``...`` followed by the closing brackets of the containers still open. Objects whose
    ``repr`` raises are shown as ``<unrepresentable ...>``. Large values are never fully
    rendered: rendering stops once the budget is spent.
    """
    writer = _ReprWriter(maxlen, maxlevels)
    try:
        writer.walk(value, 0)
    except _ReprFull:
        suffix = "..." + "".join(reversed(writer.closers))
        return "".join(writer.parts)[: max(maxlen - len(suffix), 0)] + suffix
    return "".join(writer.parts)


class _ReprWriter:
    """The state of one saferepr call: output parts, open brackets, budget, recursion guard."""

    __slots__ = ("budget", "closers", "maxlevels", "parts", "seen")

    def __init__(self, maxlen: int, maxlevels: int) -> None:
        self.parts: list[str] = []
        self.closers: list[str] = []
        self.budget = maxlen
        self.maxlevels = maxlevels
        self.seen: set[int] = set()

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.budget -= len(text)
        if self.budget < 0:
            raise _ReprFull

    def walk(self, obj: Any, level: int) -> None:
        brackets = _CONTAINERS.get(type(obj))
        if brackets is None:
            self.write(_atom_repr(obj, self.budget + 1))
        elif not obj:
            self.write("set()" if type(obj) is set else repr(obj))
        elif level >= self.maxlevels:
            self.write(f"{brackets[0]}...{brackets[1]}")
        elif id(obj) in self.seen:
            self.write(f"<Recursion on {type(obj).__name__} with id={id(obj)}>")
        else:
            self.seen.add(id(obj))
            self.container(obj, level, brackets)
            self.seen.discard(id(obj))

    def container(self, obj: Any, level: int, brackets: tuple[str, str]) -> None:
        opening, closing = brackets
        if type(obj) is tuple and len(obj) == 1:
            closing = ",)"
        self.write(opening)
        self.closers.append(closing)
        if type(obj) is dict:
            for index, (key, item) in enumerate(obj.items()):
                if index:
                    self.write(", ")
                self.walk(key, level + 1)
                self.write(": ")
                self.walk(item, level + 1)
        else:
            for index, item in enumerate(obj):
                if index:
                    self.write(", ")
                self.walk(item, level + 1)
        self.closers.pop()
        self.write(closing)


def _atom_repr(obj: Any, limit: int) -> str:
    """repr() of a non-container, rendering at most about ``limit`` characters of a str/bytes."""
    if isinstance(obj, str | bytes) and len(obj) > limit:
        obj = obj[:limit]
    try:
        return repr(obj)
    except Exception as exc:
        return f"<unrepresentable {type(obj).__qualname__} object: {exc!r}>"


# --------------------------------------------------------------------------- build


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


def default_origin() -> str:
    """Return Celery's ``origin`` for this process: ``gen<pid>@<hostname>``."""
    return f"gen{os.getpid()}@{_hostname()}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)


def _when(value: dt.datetime | str | float | None, now: dt.datetime, what: str) -> str | None:
    """Render an eta/expires option as Celery's ISO header (a number = seconds from now).

    An ISO string with an offset is sent as is (a retry re-sends the original text); a naive
    one gets ``+00:00``, because Celery workers read naive times in their local timezone.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise EncodeError(f"task {what} is not an ISO 8601 datetime: {value!r}")
        return value if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC).isoformat()
    if isinstance(value, dt.datetime):
        return _aware(value).isoformat()
    return (now + dt.timedelta(seconds=value)).isoformat()


def _expiration(value: dt.datetime | str | float, now: dt.datetime) -> str:
    """The AMQP ``expiration`` property: milliseconds from now as a string, at least ``"0"``."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        when = _aware(value) if isinstance(value, dt.datetime) else _parse_iso_utc(value)
        seconds = (when - now).total_seconds()
    return str(int(max(seconds, 0.0) * 1000))


def _parse_iso_utc(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)  # already validated by _when
    return _aware(parsed)


def build_task_message(
    name: str,
    task_id: str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    eta: dt.datetime | str | float | None = None,
    expires: dt.datetime | str | float | None = None,
    retries: int = 0,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    root_id: str | None = None,
    parent_id: str | None = None,
    group_id: str | None = None,
    group_index: int | None = None,
    shadow: str | None = None,
    origin: str | None = None,
    ignore_result: bool = False,
    callbacks: list[dict[str, Any]] | None = None,
    errbacks: list[dict[str, Any]] | None = None,
    chain: list[dict[str, Any]] | None = None,
    chord: dict[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    reply_to: str | None = None,
    priority: int | None = None,
    delivery_mode: int = 2,
    exchange: str = "",
    routing_key: str = "celery",
    serializer: str = "json",
    compression: str | None = None,
    argsrepr: str | None = None,
    kwargsrepr: str | None = None,
    replaced_task_nesting: int = 0,
    stamped_headers: list[str] | None = None,
    stamps: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Message:
    """Build a protocol 2 task message exactly as Celery 5.7 sends it.

    Args:
        name: the registered task name (header ``task``).
        task_id: the task id (header ``id`` and property ``correlation_id``).
        args: positional arguments (list or tuple).
        kwargs: keyword arguments.
        eta: when to run: an aware datetime (naive means UTC), an ISO string (sent as is)
            or a number of seconds from now (Celery's ``countdown``).
        expires: when the task expires, same forms as ``eta``; also sets the ``expiration``
            property (milliseconds from now, ``"0"`` when already past).
        retries: how many times the task has been retried.
        time_limit: hard time limit in seconds (``timelimit[0]``).
        soft_time_limit: soft time limit in seconds (``timelimit[1]``).
        root_id: id of the first task of the workflow; defaults to ``task_id``.
        parent_id: id of the task that sent this one.
        group_id: id of the group this task belongs to (header ``group``).
        group_index: position within the group.
        shadow: alternative name for logs and events.
        origin: ``gen<pid>@<host>`` of the sender; defaults to this process's.
        ignore_result: tell the worker not to store the result.
        callbacks: link signatures (``embed.callbacks``).
        errbacks: link_error signatures (``embed.errbacks``).
        chain: remaining chain steps, in reverse order (``embed.chain``).
        chord: the chord body signature (``embed.chord``).
        headers: custom headers, merged flat after the protocol headers.
        reply_to: the sender's reply queue name (property ``reply_to``; ``""`` when None).
        priority: message priority (0 when None).
        delivery_mode: 2 = persistent, 1 = transient.
        exchange: exchange name for ``delivery_info``.
        routing_key: routing key (queue name for the default exchange) for ``delivery_info``.
        serializer: body serializer name (``json``, ``pickle``, ``yaml``, ``msgpack``).
        compression: compression method name, or None for none.
        argsrepr: display form of ``args``; defaults to ``saferepr(tuple(args))``.
        kwargsrepr: display form of ``kwargs``; defaults to ``saferepr(kwargs)``.
        replaced_task_nesting: how many times ``Task.replace`` produced this task.
        stamped_headers: names of stamps (canvas stamping API).
        stamps: stamp values by name.
        now: the current time (aware), for computing relative times; defaults to now in UTC.

    Returns:
        The message, with its body serialized (and compressed when asked).

    Raises:
        TypeError: ``args`` is not a list or tuple, or ``kwargs`` is not a mapping.
        EncodeError: the body cannot be serialized or compressed, or an ``eta``/``expires``
            string is not ISO 8601.
    """
    args = () if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list | tuple):
        raise TypeError(f"task args must be a list or tuple, not {type(args).__name__}")
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"task keyword arguments must be a mapping, not {type(kwargs).__name__}")
    return _assemble(
        name=name,
        task_id=task_id,
        args=list(args),
        kwargs=dict(kwargs),
        embed={"callbacks": callbacks, "errbacks": errbacks, "chain": chain, "chord": chord},
        eta=eta,
        expires=expires,
        retries=retries,
        timelimit=[time_limit, soft_time_limit],
        root_id=root_id,
        parent_id=parent_id,
        group_id=group_id,
        group_index=group_index,
        shadow=shadow,
        origin=origin,
        ignore_result=ignore_result,
        argsrepr=saferepr(tuple(args)) if argsrepr is None else argsrepr,
        kwargsrepr=saferepr(kwargs) if kwargsrepr is None else kwargsrepr,
        replaced_task_nesting=replaced_task_nesting,
        stamped_headers=stamped_headers,
        stamps=dict(stamps) if stamps else {},
        custom_headers=headers,
        lang="py",
        reply_to=reply_to,
        delivery_mode=delivery_mode,
        extra_properties=None,
        delivery_info={"exchange": exchange, "routing_key": routing_key},
        priority=priority,
        serializer=serializer,
        compression=compression,
        now=now,
    )


def _assemble(
    *,
    name: str,
    task_id: str,
    args: list[Any],
    kwargs: dict[str, Any],
    embed: dict[str, Any],
    eta: dt.datetime | str | float | None,
    expires: dt.datetime | str | float | None,
    retries: int,
    timelimit: list[float | None],
    root_id: str | None,
    parent_id: str | None,
    group_id: str | None,
    group_index: int | None,
    shadow: str | None,
    origin: str | None,
    ignore_result: bool,
    argsrepr: str,
    kwargsrepr: str,
    replaced_task_nesting: int,
    stamped_headers: list[str] | None,
    stamps: dict[str, Any],
    custom_headers: Mapping[str, Any] | None,
    lang: str,
    reply_to: str | None,
    delivery_mode: int,
    extra_properties: Mapping[str, Any] | None,
    delivery_info: dict[str, Any],
    priority: int | None,
    serializer: str,
    compression: str | None,
    now: dt.datetime | None,
) -> Message:
    now = _aware(now) if now is not None else dt.datetime.now(_UTC)
    headers: dict[str, Any] = {
        "lang": lang,
        "task": name,
        "id": task_id,
        "shadow": shadow,
        "eta": _when(eta, now, "eta"),
        "expires": _when(expires, now, "expires"),
        "group": group_id,
        "group_index": group_index,
        "retries": retries,
        "timelimit": timelimit,
        "root_id": root_id or task_id,
        "parent_id": parent_id,
        "argsrepr": argsrepr,
        "kwargsrepr": kwargsrepr,
        "origin": origin or default_origin(),
        "ignore_result": ignore_result,
        "replaced_task_nesting": replaced_task_nesting,
        "stamped_headers": stamped_headers,
        "stamps": stamps,
    }
    if custom_headers:
        headers.update(custom_headers)
    # Celery builds {correlation_id, reply_to, **unconsumed options}; kombu then adds
    # delivery_mode and expiration; the transport adds delivery_info and priority.
    properties: dict[str, Any] = {"correlation_id": task_id, "reply_to": reply_to or ""}
    if extra_properties:
        properties.update(extra_properties)
    properties["delivery_mode"] = delivery_mode
    if expires is not None:
        properties["expiration"] = _expiration(expires, now)
    properties["delivery_info"] = delivery_info
    properties["priority"] = priority or 0
    content_type, content_encoding, body = dumps([args, kwargs, embed], serializer)
    if compression:
        headers["compression"], body = compress(body, compression)
    return Message(
        body=body,
        content_type=content_type,
        content_encoding=content_encoding,
        headers=headers,
        properties=properties,
    )


def encode_task_call(
    call: TaskCall, *, serializer: str = "json", compression: str | None = None
) -> Message:
    """Encode a (possibly modified) decoded call back into a protocol 2 message.

    Used for retries and requeues: the headers, properties and body come out in the same
    structure as the original message. Custom headers and unknown properties are carried
    over, and so is ``delivery_info`` as is, including flags a transport may have added
    (kombu's ``redelivered``); remove them from ``call`` first if they should not travel.
    ``expiration`` is recomputed from ``call.expires`` against the current time; the
    ``delivery_tag`` is not kept (the transport assigns a new one).

    Args:
        call: the call to encode.
        serializer: body serializer name.
        compression: compression method name, or None for none.

    Raises:
        EncodeError: the body cannot be serialized or compressed.
    """
    custom = {
        key: value
        for key, value in call.headers.items()
        if key not in _HEADER_KEY_SET and key != "compression"
    }
    extra_properties = {
        key: value for key, value in call.properties.items() if key not in _OWN_PROPERTIES
    }
    delivery_mode = call.properties.get("delivery_mode")
    lang = call.headers.get("lang")
    return _assemble(
        name=call.name,
        task_id=call.id,
        args=call.args,
        kwargs=call.kwargs,
        embed={
            "callbacks": call.callbacks,
            "errbacks": call.errbacks,
            "chain": call.chain,
            "chord": call.chord,
        },
        eta=call.eta,
        expires=call.expires,
        retries=call.retries,
        timelimit=[call.time_limit, call.soft_time_limit],
        root_id=call.root_id,
        parent_id=call.parent_id,
        group_id=call.group,
        group_index=call.group_index,
        shadow=call.shadow,
        origin=call.origin,
        ignore_result=bool(call.ignore_result),
        argsrepr=call.argsrepr or saferepr(tuple(call.args)),
        kwargsrepr=call.kwargsrepr or saferepr(call.kwargs),
        replaced_task_nesting=call.replaced_task_nesting,
        stamped_headers=call.stamped_headers,
        stamps=call.stamps,
        custom_headers=custom,
        lang=lang if isinstance(lang, str) and lang else "py",
        reply_to=call.reply_to,
        delivery_mode=delivery_mode if isinstance(delivery_mode, int) else 2,
        extra_properties=extra_properties,
        delivery_info=dict(call.delivery_info)
        if call.delivery_info
        else {"exchange": "", "routing_key": "celery"},
        priority=call.priority,
        serializer=serializer,
        compression=compression,
        now=None,
    )


# --------------------------------------------------------------------------- decode


def decode_task_message(message: Message, *, accept: Collection[str] | None = None) -> TaskCall:
    """Decode a task message: protocol 2, protocol 1 (dict body, no ``task`` header) or hybrid.

    Args:
        message: the message as the transport delivered it.
        accept: allowed content types or serializer names (``accept_content``); None allows
            every registered serializer.

    Raises:
        ContentDisallowed: the body's content type is not in ``accept``.
        DecodeError: the body cannot be decompressed or deserialized.
        InvalidTaskError: the message is not a valid task message (the text says why).
    """
    headers = message.headers
    body = message.body
    method = headers.get("compression")
    if method:
        body = decompress(body, method)
    payload = loads(body, message.content_type, message.content_encoding, accept=accept)
    if isinstance(payload, dict):
        return _decode_dict_body(message, payload)
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
    return _make_call(headers, message, args, kwargs, embed, protocol=2, utc=True)


def _decode_dict_body(message: Message, body: dict[str, Any]) -> TaskCall:
    """Decode protocol 1 (fields in the body) or hybrid (headers win over body fields)."""
    headers = message.headers
    if "task" in headers:
        fields = {**body, **headers}
        protocol = 2
    elif "task" in body:
        fields = body
        if fields.get("group") is None and fields.get("taskset") is not None:
            fields = {**body, "group": body["taskset"]}
        protocol = 1
    else:
        raise InvalidTaskError(
            "not a task message: no 'task' header, and the dict body has no 'task' key "
            f"(body keys: {sorted(body)})"
        )
    embed = {
        "callbacks": fields.get("callbacks"),
        "errbacks": fields.get("errbacks"),
        "chain": fields.get("chain"),
        "chord": fields.get("chord"),
    }
    # Protocol 1 says whether a naive eta/expires is UTC (utc=True) or the sender's local time.
    utc = fields.get("utc", True) is not False
    return _make_call(
        fields,
        message,
        fields.get("args", []),
        fields.get("kwargs", {}),
        embed,
        protocol=protocol,
        utc=utc,
    )


def _make_call(
    fields: Mapping[str, Any],
    message: Message,
    args: Any,
    kwargs: Any,
    embed: Any,
    *,
    protocol: int,
    utc: bool,
) -> TaskCall:
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
    embed = _check_embed(embed, name, task_id)
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
    return TaskCall(
        id=task_id,
        name=name,
        args=args if isinstance(args, list) else list(args),
        kwargs=kwargs,
        callbacks=embed.get("callbacks"),
        errbacks=embed.get("errbacks"),
        chain=embed.get("chain"),
        chord=embed.get("chord"),
        eta=_parse_when(fields.get("eta"), "eta", utc),
        expires=_parse_when(fields.get("expires"), "expires", utc),
        retries=_int(fields.get("retries"), 0, "retries", task_id),
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        root_id=_str_or_none(fields.get("root_id")),
        parent_id=_str_or_none(fields.get("parent_id")),
        group=_str_or_none(fields.get("group")),
        group_index=_int(fields.get("group_index"), None, "group_index", task_id),
        shadow=_str_or_none(fields.get("shadow")),
        origin=_str_or_none(fields.get("origin")),
        ignore_result=None if ignore_result is None else bool(ignore_result),
        argsrepr=argsrepr if isinstance(argsrepr, str) else "",
        kwargsrepr=kwargsrepr if isinstance(kwargsrepr, str) else "",
        reply_to=_str_or_none(properties.get("reply_to")),
        correlation_id=_str_or_none(properties.get("correlation_id")),
        priority=_priority(properties, delivery_info),
        delivery_info=delivery_info,
        replaced_task_nesting=_int(
            fields.get("replaced_task_nesting"), 0, "replaced_task_nesting", task_id
        ),
        stamped_headers=stamped_headers if isinstance(stamped_headers, list) else None,
        stamps=stamps if isinstance(stamps, dict) else {},
        headers=dict(message.headers),
        properties=dict(properties),
        protocol=protocol,
    )


def _check_embed(embed: Any, name: str, task_id: str) -> dict[str, Any]:
    """Validate the body's third item: {callbacks, errbacks, chain, chord} (None = empty)."""
    if embed is None:
        return {}
    if not isinstance(embed, dict):
        raise InvalidTaskError(
            f"task {name}[{task_id}]: the body's third item must be a dict "
            f"{{callbacks, errbacks, chain, chord}}, not {type(embed).__name__}"
        )
    for key in ("callbacks", "errbacks", "chain"):
        value = embed.get(key)
        if value is not None and not isinstance(value, list):
            raise InvalidTaskError(
                f"task {name}[{task_id}]: embed {key!r} must be a list of signatures or null, "
                f"not {type(value).__name__}"
            )
    chord = embed.get("chord")
    if chord is not None and not isinstance(chord, dict):
        raise InvalidTaskError(
            f"task {name}[{task_id}]: embed 'chord' must be a signature dict or null, "
            f"not {type(chord).__name__}"
        )
    return embed


def _timelimit(value: Any, name: str, task_id: str) -> tuple[float | None, float | None]:
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


def _parse_when(value: Any, what: str, utc: bool = True) -> dt.datetime | None:
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


def _int(value: Any, default: int | None, what: str, task_id: str) -> Any:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidTaskError(f"task {task_id}: {what!r} must be an integer, got {value!r}")


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _priority(properties: Mapping[str, Any], delivery_info: Mapping[str, Any]) -> int:
    value = properties.get("priority")
    if value is None:
        value = delivery_info.get("priority")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
