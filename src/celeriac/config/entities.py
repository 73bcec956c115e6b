"""``Exchange``, ``Queue`` and ``binding``: kombu's routing entities, as frozen values.

Settings files written for Celery build their ``task_queues`` from kombu's classes; these
take the same constructor arguments and keep kombu's attribute names exactly (``name``,
``exchange``, ``routing_key``, ``queue_arguments``, ``max_priority`` …), so a transport
that declares them on a real AMQP broker reads them as kombu would. Unlike kombu's, they
are immutable and never bound to a channel: celeriac declares them where it needs to.

:func:`as_exchange`, :func:`as_queue` and :func:`as_binding` turn what a settings file may
hold (these objects, kombu's own objects, dicts, plain names) into these classes, reading
kombu's objects by their attributes: celeriac does not import kombu.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

__all__ = [
    "DELIVERY_MODES",
    "EXCHANGE_TYPES",
    "Exchange",
    "Queue",
    "as_binding",
    "as_exchange",
    "as_queue",
    "binding",
]

#: kombu's names for the AMQP delivery modes.
DELIVERY_MODES: Mapping[str, int] = {"transient": 1, "persistent": 2}

#: The exchange types AMQP 0-9-1 defines.
EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")

#: Queue attributes that RabbitMQ takes as ``x-`` arguments, and the unit conversion
#: kombu applies (seconds become milliseconds).
_QUEUE_X_ARGUMENTS: Mapping[str, tuple[str, float]] = {
    "expires": ("x-expires", 1000.0),
    "message_ttl": ("x-message-ttl", 1000.0),
    "max_length": ("x-max-length", 1.0),
    "max_length_bytes": ("x-max-length-bytes", 1.0),
    "max_priority": ("x-max-priority", 1.0),
}

Arguments = Mapping[str, object]

#: kombu's ``Exchange.attrs``, in its order.
_EXCHANGE_FIELDS = (
    "name",
    "type",
    "arguments",
    "durable",
    "passive",
    "auto_delete",
    "delivery_mode",
    "no_declare",
)

#: kombu's ``Queue.attrs``, in its order.
_QUEUE_FIELDS = (
    "name",
    "exchange",
    "routing_key",
    "queue_arguments",
    "binding_arguments",
    "consumer_arguments",
    "durable",
    "exclusive",
    "auto_delete",
    "no_ack",
    "alias",
    "bindings",
    "no_declare",
    "expires",
    "message_ttl",
    "max_length",
    "max_length_bytes",
    "max_priority",
)


def _arguments(value: object, what: str) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {value!r}")
    return {str(key): item for key, item in value.items()}


def _delivery_mode(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value not in DELIVERY_MODES:
            raise ValueError(f"delivery_mode must be 1, 2, 'transient' or 'persistent': {value!r}")
        return DELIVERY_MODES[value]
    if isinstance(value, int) and value in (1, 2):
        return value
    raise ValueError(f"delivery_mode must be 1, 2, 'transient' or 'persistent': {value!r}")


def _optional_number(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{what} must be a number, not {value!r}")


def _optional_int(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be an integer, not {value!r}")


class _Frozen:
    """Attributes are set once, in ``__init__``; equal values hash alike."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def as_dict(self) -> dict[str, object]:
        """The attributes as a dict (kombu's ``as_dict``)."""
        return {name: getattr(self, name) for name in self._fields}


class Exchange(_Frozen):
    """An AMQP exchange (kombu's ``Exchange``): where producers send and queues bind.

    Args:
        name: the exchange's name; ``''`` is the default (nameless) exchange, which routes
            a message to the queue named by its routing key.
        type: ``direct`` (routing key equals the binding key), ``topic`` (binding keys
            with ``*`` for one word and ``#`` for zero or more), ``fanout`` (every bound
            queue) or ``headers`` (message headers against the binding arguments).
        channel: accepted for kombu's signature; celeriac entities are never bound.
        durable: survives a broker restart.
        auto_delete: deleted when its last queue is unbound.
        arguments: extra declaration arguments (``x-…``).
        delivery_mode: 1/``'transient'`` or 2/``'persistent'`` for messages sent here.
        passive: only check that the exchange exists when declaring.
        no_declare: never declare it (it exists already).
    """

    __slots__ = _EXCHANGE_FIELDS
    _fields = _EXCHANGE_FIELDS

    name: str
    type: str
    durable: bool
    auto_delete: bool
    arguments: dict[str, object] | None
    delivery_mode: int | None
    passive: bool
    no_declare: bool

    def __init__(
        self,
        name: str = "",
        type: str = "",
        channel: object = None,
        *,
        durable: bool = True,
        auto_delete: bool = False,
        arguments: Arguments | None = None,
        delivery_mode: int | str | None = None,
        passive: bool = False,
        no_declare: bool = False,
        **_ignored: object,
    ) -> None:
        kind = type or "direct"
        if kind not in EXCHANGE_TYPES:
            raise ValueError(
                f"exchange {name!r}: unknown type {kind!r} (expected one of "
                f"{', '.join(EXCHANGE_TYPES)})"
            )
        self._set("name", str(name or ""))
        self._set("type", kind)
        self._set("durable", bool(durable))
        self._set("auto_delete", bool(auto_delete))
        self._set("arguments", _arguments(arguments, f"exchange {name!r} arguments"))
        self._set("delivery_mode", _delivery_mode(delivery_mode))
        self._set("passive", bool(passive))
        self._set("no_declare", bool(no_declare))

    def __hash__(self) -> int:
        return hash(f"E|{self.name}")

    def __bool__(self) -> bool:
        return True  # kombu's exchanges are truthy even when nameless

    def binding(self, routing_key: str = "", arguments: Arguments | None = None) -> binding:
        """A binding to this exchange with ``routing_key`` (kombu's ``Exchange.binding``)."""
        return binding(self, routing_key, arguments)

    def __repr__(self) -> str:
        return f"<Exchange {self.name}({self.type})>"


class binding(_Frozen):  # kombu's name, lowercase
    """A queue's binding to an exchange (kombu's ``binding``), for queues bound several times.

    Args:
        exchange: the exchange to bind to.
        routing_key: the binding key.
        arguments: binding arguments (a headers exchange matches on these).
        unbind_arguments: arguments for unbinding.
    """

    __slots__ = ("arguments", "exchange", "routing_key", "unbind_arguments")
    _fields = ("exchange", "routing_key", "arguments", "unbind_arguments")

    exchange: Exchange | None
    routing_key: str
    arguments: dict[str, object] | None
    unbind_arguments: dict[str, object] | None

    def __init__(
        self,
        exchange: Exchange | str | None = None,
        routing_key: str = "",
        arguments: Arguments | None = None,
        unbind_arguments: Arguments | None = None,
    ) -> None:
        self._set("exchange", None if exchange is None else as_exchange(exchange))
        self._set("routing_key", str(routing_key or ""))
        self._set("arguments", _arguments(arguments, "binding arguments"))
        self._set("unbind_arguments", _arguments(unbind_arguments, "binding unbind_arguments"))

    def __hash__(self) -> int:
        exchange = self.exchange.name if self.exchange is not None else ""
        return hash((exchange, self.routing_key))

    def __repr__(self) -> str:
        exchange = self.exchange.name if self.exchange is not None else ""
        return f"<binding: {exchange!r}->{self.routing_key!r}>"


class Queue(_Frozen):
    """A queue and how it is bound (kombu's ``Queue``).

    Args:
        name: the queue's name (what a worker's ``-Q`` names).
        exchange: the exchange it binds to (an :class:`Exchange` or its name), or a list of
            :class:`binding` (kombu's ``Queue(name, [binding(...), ...])``).
        routing_key: its binding key to ``exchange``.
        channel: accepted for kombu's signature; celeriac entities are never bound.
        bindings: several bindings instead of one ``exchange``/``routing_key``.
        durable, exclusive, auto_delete: AMQP queue flags (``exclusive`` implies
            ``auto_delete``, as in kombu).
        queue_arguments: extra declaration arguments (``x-queue-type``, ``x-max-priority`` …).
        binding_arguments: arguments of the binding to ``exchange``.
        consumer_arguments: arguments of a consumer of it (``x-priority`` …).
        no_ack, alias, no_declare: as kombu's.
        expires, message_ttl: seconds (declared as ``x-expires``/``x-message-ttl`` in ms).
        max_length, max_length_bytes, max_priority: declared as the ``x-`` arguments.
    """

    __slots__ = _QUEUE_FIELDS
    _fields = _QUEUE_FIELDS

    name: str
    exchange: Exchange | None
    routing_key: str
    bindings: frozenset[binding]
    durable: bool
    exclusive: bool
    auto_delete: bool
    queue_arguments: dict[str, object] | None
    binding_arguments: dict[str, object] | None
    consumer_arguments: dict[str, object] | None
    no_ack: bool
    alias: str | None
    no_declare: bool
    expires: float | None
    message_ttl: float | None
    max_length: int | None
    max_length_bytes: int | None
    max_priority: int | None

    def __init__(
        self,
        name: str = "",
        exchange: Exchange | str | Iterable[binding] | None = None,
        routing_key: str = "",
        channel: object = None,
        bindings: Iterable[binding] | None = None,
        on_declared: object = None,
        *,
        durable: bool = True,
        exclusive: bool = False,
        auto_delete: bool = False,
        queue_arguments: Arguments | None = None,
        binding_arguments: Arguments | None = None,
        consumer_arguments: Arguments | None = None,
        no_ack: bool = False,
        alias: str | None = None,
        no_declare: bool = False,
        expires: float | None = None,
        message_ttl: float | None = None,
        max_length: int | None = None,
        max_length_bytes: int | None = None,
        max_priority: int | None = None,
        **_ignored: object,
    ) -> None:
        found = {as_binding(item) for item in bindings or ()}
        if isinstance(exchange, list | tuple | set | frozenset):
            found |= {as_binding(item) for item in exchange}
            exchange = None
        self._set("name", str(name or ""))
        self._set(
            "exchange",
            None if found else (Exchange("") if exchange is None else as_exchange(exchange)),
        )
        self._set("routing_key", str(routing_key or ""))
        self._set("bindings", frozenset(found))
        self._set("durable", bool(durable))
        self._set("exclusive", bool(exclusive))
        self._set("auto_delete", bool(auto_delete or exclusive))
        what = f"queue {name!r}"
        self._set("queue_arguments", _arguments(queue_arguments, f"{what} queue_arguments"))
        self._set("binding_arguments", _arguments(binding_arguments, f"{what} binding_arguments"))
        self._set(
            "consumer_arguments", _arguments(consumer_arguments, f"{what} consumer_arguments")
        )
        self._set("no_ack", bool(no_ack))
        self._set("alias", alias)
        self._set("no_declare", bool(no_declare))
        self._set("expires", _optional_number(expires, f"{what} expires"))
        self._set("message_ttl", _optional_number(message_ttl, f"{what} message_ttl"))
        self._set("max_length", _optional_int(max_length, f"{what} max_length"))
        self._set("max_length_bytes", _optional_int(max_length_bytes, f"{what} max_length_bytes"))
        self._set("max_priority", _optional_int(max_priority, f"{what} max_priority"))

    def __hash__(self) -> int:
        return hash(f"Q|{self.name}")

    def __repr__(self) -> str:
        if self.bindings:
            shown = ", ".join(sorted(repr(item) for item in self.bindings))
            return f"<unbound Queue {self.name} -> [{shown}]>"
        return f"<unbound Queue {self.name} -> {self.exchange!r} -> {self.routing_key}>"

    def replace(self, **changes: object) -> Queue:
        """A copy of this queue with some attributes changed (as given: not re-checked).

        Celery's queue table sets the default exchange and routing key on the queues it
        adds, a queue with ``bindings`` included; this is how it does so here.
        """
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"Queue has no attribute {', '.join(sorted(unknown))}")
        copy = object.__new__(Queue)
        for name in self._fields:
            object.__setattr__(copy, name, changes.get(name, getattr(self, name)))
        return copy

    def all_bindings(self) -> tuple[binding, ...]:
        """Every binding declaring this queue makes (kombu's ``Queue.declare``): the one to
        ``exchange`` when it has a name, then each of ``bindings``.

        A queue on the nameless exchange alone has none (the default exchange reaches
        every queue by its name).
        """
        found: list[binding] = []
        if self.exchange is not None and self.exchange.name:
            found.append(binding(self.exchange, self.routing_key, self.binding_arguments))
        found.extend(sorted(self.bindings, key=_binding_order))
        return tuple(found)

    def declare_arguments(self) -> dict[str, object]:
        """The ``arguments`` of ``queue.declare``, as kombu's AMQP transport sends them:
        ``queue_arguments`` plus ``x-expires``/``x-message-ttl`` (milliseconds),
        ``x-max-length``, ``x-max-length-bytes`` and ``x-max-priority`` from the attributes."""
        arguments = dict(self.queue_arguments or {})
        for attribute, (key, scale) in _QUEUE_X_ARGUMENTS.items():
            value = getattr(self, attribute)
            if value is not None:
                arguments[key] = int(value * scale)
        return arguments

    @property
    def priority_levels(self) -> int | None:
        """The highest priority this queue orders by (``x-max-priority``), if any."""
        value = self.declare_arguments().get("x-max-priority")
        return int(value) if isinstance(value, int | float | str) else None

    @classmethod
    def from_dict(cls, queue: str, **options: object) -> Queue:
        """A queue from Celery's dict form (``task_queues = {'name': {'exchange': …}}``).

        Reads kombu's keys: ``exchange``, ``exchange_type``, ``routing_key`` (or
        ``binding_key``), ``durable``/``exchange_durable``/``queue_durable``,
        ``auto_delete`` and its two variants, ``exchange_arguments``,
        ``queue_arguments``, ``binding_arguments``, ``consumer_arguments``,
        ``delivery_mode``, ``exclusive``, ``no_ack``, ``bindings``.
        """
        get = options.get

        def either(specific: str, general: str, default: bool) -> bool:
            value = get(specific)
            value = get(general) if value is None else value
            return default if value is None else bool(value)

        exchange = get("exchange")
        if isinstance(exchange, str) or exchange is None:
            exchange = Exchange(
                exchange or "",
                str(get("exchange_type") or ""),
                durable=either("exchange_durable", "durable", True),
                auto_delete=either("exchange_auto_delete", "auto_delete", False),
                arguments=_arguments(get("exchange_arguments"), "exchange_arguments"),
                delivery_mode=_delivery_mode(get("delivery_mode")),
            )
        key = get("binding_key") or get("routing_key") or ""
        bindings = get("bindings")
        return cls(
            queue,
            as_exchange(exchange),
            str(key),
            bindings=[as_binding(item) for item in _iterable(bindings, "bindings")],
            durable=either("queue_durable", "durable", True),
            exclusive=bool(get("exclusive")),
            auto_delete=either("queue_auto_delete", "auto_delete", False),
            no_ack=bool(get("no_ack")),
            queue_arguments=_arguments(get("queue_arguments"), "queue_arguments"),
            binding_arguments=_arguments(get("binding_arguments"), "binding_arguments"),
            consumer_arguments=_arguments(get("consumer_arguments"), "consumer_arguments"),
            max_priority=_optional_int(get("max_priority"), "max_priority"),
        )


def _binding_order(item: binding) -> tuple[str, str]:
    return (item.exchange.name if item.exchange is not None else "", item.routing_key)


def _iterable(value: object, what: str) -> Iterable[object]:
    if value is None:
        return ()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return value
    raise TypeError(f"{what} must be a list, not {value!r}")


# -- normalising what a settings file holds --------------------------------------------


def as_exchange(value: object) -> Exchange:
    """An :class:`Exchange` from one, from kombu's (read by attribute), a dict or a name.

    Raises:
        TypeError: ``value`` is none of those.
    """
    if isinstance(value, Exchange):
        return value
    if isinstance(value, str):
        return Exchange(value)
    if isinstance(value, Mapping):
        options = {str(key): item for key, item in value.items()}
        name = options.pop("name", "")
        kind = options.pop("type", "")
        return Exchange(str(name or ""), str(kind or ""), **options)
    if hasattr(value, "name") and hasattr(value, "type"):  # kombu.Exchange
        return Exchange(
            str(getattr(value, "name", "") or ""),
            str(getattr(value, "type", "") or ""),
            durable=bool(getattr(value, "durable", True)),
            auto_delete=bool(getattr(value, "auto_delete", False)),
            arguments=_arguments(getattr(value, "arguments", None), "exchange arguments"),
            delivery_mode=_delivery_mode(getattr(value, "delivery_mode", None)),
            passive=bool(getattr(value, "passive", False)),
            no_declare=bool(getattr(value, "no_declare", False)),
        )
    raise TypeError(f"expected an Exchange, an exchange name or a dict, not {value!r}")


def as_binding(value: object) -> binding:
    """A :class:`binding` from one, from kombu's (read by attribute) or a dict.

    Raises:
        TypeError: ``value`` is neither.
    """
    if isinstance(value, binding):
        return value
    if isinstance(value, Mapping):
        return binding(
            _maybe_exchange(value.get("exchange")),
            str(value.get("routing_key") or ""),
            _arguments(value.get("arguments"), "binding arguments"),
            _arguments(value.get("unbind_arguments"), "binding unbind_arguments"),
        )
    if hasattr(value, "exchange") and hasattr(value, "routing_key"):  # kombu.binding
        return binding(
            _maybe_exchange(getattr(value, "exchange", None)),
            str(getattr(value, "routing_key", "") or ""),
            _arguments(getattr(value, "arguments", None), "binding arguments"),
            _arguments(getattr(value, "unbind_arguments", None), "binding unbind_arguments"),
        )
    raise TypeError(f"expected a binding or a dict, not {value!r}")


def _maybe_exchange(value: object) -> Exchange | None:
    return None if value is None else as_exchange(value)


def as_queue(value: object, name: str | None = None) -> Queue:
    """A :class:`Queue` from one, from kombu's (read by attribute), a dict or a name.

    Args:
        value: the queue, as ``task_queues`` may hold it.
        name: the key it was found under, when ``task_queues`` is a dict of options by
            queue name (Celery's older form; the routing key then defaults to the name).

    Raises:
        TypeError: ``value`` is none of those.
    """
    if isinstance(value, Queue):
        return value
    if isinstance(value, str):
        return Queue(value, Exchange(value), value)
    if isinstance(value, Mapping):
        options = {str(key): item for key, item in value.items()}
        queue_name = str(options.pop("name", None) or name or "")
        if not (options.get("routing_key") or options.get("binding_key")):
            options["routing_key"] = queue_name
        return Queue.from_dict(queue_name, **options)
    if hasattr(value, "name"):  # kombu.Queue, or any object with its attribute names
        return _from_kombu_queue(value)
    raise TypeError(f"expected a Queue, a queue name or a dict, not {value!r}")


def _from_kombu_queue(value: object) -> Queue:
    def attr(name: str) -> object:
        return getattr(value, name, None)

    bindings = [as_binding(item) for item in _iterable(attr("bindings"), "bindings")]
    exchange = attr("exchange")
    queue_name = str(attr("name") or "")
    return Queue(
        queue_name,
        None if exchange is None else as_exchange(exchange),
        str(attr("routing_key") or ""),
        bindings=bindings,
        durable=bool(True if attr("durable") is None else attr("durable")),
        exclusive=bool(attr("exclusive")),
        auto_delete=bool(attr("auto_delete")),
        queue_arguments=_arguments(attr("queue_arguments"), "queue_arguments"),
        binding_arguments=_arguments(attr("binding_arguments"), "binding_arguments"),
        consumer_arguments=_arguments(attr("consumer_arguments"), "consumer_arguments"),
        no_ack=bool(attr("no_ack")),
        alias=None if attr("alias") is None else str(attr("alias")),
        no_declare=bool(attr("no_declare")),
        expires=_optional_number(attr("expires"), f"queue {queue_name!r} expires"),
        message_ttl=_optional_number(attr("message_ttl"), f"queue {queue_name!r} message_ttl"),
        max_length=_optional_int(attr("max_length"), f"queue {queue_name!r} max_length"),
        max_length_bytes=_optional_int(
            attr("max_length_bytes"), f"queue {queue_name!r} max_length_bytes"
        ),
        max_priority=_optional_int(attr("max_priority"), f"queue {queue_name!r} max_priority"),
    )
