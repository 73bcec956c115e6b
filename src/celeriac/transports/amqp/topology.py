"""Exchanges, queues and bindings, declared exactly as kombu declares them for Celery.

RabbitMQ refuses (``PRECONDITION_FAILED``) a declaration that differs from the existing
entity in its flags or ``x-`` arguments, so a Celery worker and a celeriac worker can
share a queue only if both declare it alike. The rules, from Celery's ``app.amqp`` and
kombu's ``entity``:

* no ``task_queues``: one queue ``task_default_queue`` (durable, not exclusive, not
  auto-delete), bound to the durable exchange ``task_default_exchange`` (defaults to the
  queue's name) of ``task_default_exchange_type`` with ``task_default_routing_key``
  (defaults to the queue's name); ``x-queue-type: quorum`` when
  ``task_default_queue_type='quorum'``;
* a name nobody declared (``task_create_missing_queues``): a direct exchange of the same
  name, routing key = name, ``x-queue-type`` from ``task_create_missing_queue_type``;
* every queue gets ``x-max-priority: task_queue_max_priority`` when that is set and the
  queue has none; kombu's attributes ``expires``, ``message_ttl``, ``max_length``,
  ``max_length_bytes`` and ``max_priority`` become ``x-`` arguments.

``task_queues`` entries are read by their attributes (``name``, ``exchange`` with
``name``/``type``/``durable``/``auto_delete``/``arguments``, ``routing_key``,
``durable``, ``exclusive``, ``auto_delete``, ``queue_arguments``,
``binding_arguments``, ``bindings``), so kombu's ``Queue`` and celeriac's plug in alike;
dicts take Celery's ``task_queues`` dict keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["Binding", "ExchangeSpec", "QueueSpec", "Topology"]

#: kombu's queue attributes that become RabbitMQ arguments, with their conversions.
_ARGUMENT_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "expires": ("x-expires", True),
    "message_ttl": ("x-message-ttl", True),
    "max_length": ("x-max-length", False),
    "max_length_bytes": ("x-max-length-bytes", False),
    "max_priority": ("x-max-priority", False),
}


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """An exchange as declared (``""`` is the default exchange, never declared)."""

    name: str
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False
    arguments: Mapping[str, Any] | None = None

    @property
    def declarable(self) -> bool:
        """kombu declares neither the default exchange nor the ``amq.*`` ones."""
        return bool(self.name) and not self.name.startswith("amq.")


@dataclass(frozen=True, slots=True)
class Binding:
    """A queue's binding to an exchange."""

    exchange: ExchangeSpec
    routing_key: str
    arguments: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue as declared, with its bindings (the first is where its tasks are sent)."""

    name: str
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    arguments: Mapping[str, Any] = field(default_factory=dict)
    bindings: tuple[Binding, ...] = ()

    @property
    def quorum(self) -> bool:
        """True for ``x-queue-type: quorum`` (delivery counts, no per-message priority)."""
        return self.arguments.get("x-queue-type") == "quorum"

    def publish_target(self) -> tuple[str, str]:
        """``(exchange, routing_key)`` for a task to this queue, as Celery picks it.

        A queue on a direct exchange is reached through the default exchange with the
        queue's name (Celery's "anon exchange" shortcut); otherwise through its exchange.
        """
        if not self.bindings or self.bindings[0].exchange.type == "direct":
            return "", self.name
        first = self.bindings[0]
        return first.exchange.name, first.routing_key


def _exchange(obj: object, default: ExchangeSpec) -> ExchangeSpec:
    if obj is None:
        return default
    if isinstance(obj, str):
        return ExchangeSpec(obj) if obj else default
    name = str(getattr(obj, "name", "") or "")
    if not name:
        return default
    return ExchangeSpec(
        name=name,
        type=str(getattr(obj, "type", None) or "direct"),
        durable=bool(getattr(obj, "durable", True)),
        auto_delete=bool(getattr(obj, "auto_delete", False)),
        arguments=getattr(obj, "arguments", None) or None,
    )


def _milliseconds(value: Any) -> int:
    return int(float(value) * 1000)


def queue_arguments(obj: object, max_priority: int | None) -> dict[str, Any]:
    """The ``x-`` arguments of a queue object, as kombu computes them."""
    arguments = dict(getattr(obj, "queue_arguments", None) or {})
    for attribute, (key, seconds) in _ARGUMENT_ATTRIBUTES.items():
        value = getattr(obj, attribute, None)
        if value is not None:
            arguments[key] = _milliseconds(value) if seconds else int(value)
    if max_priority is not None and "x-max-priority" not in arguments:
        arguments["x-max-priority"] = max_priority
    return arguments


class _DictQueue:
    """A ``task_queues`` dict entry read through the same attributes as a queue object."""

    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        self.name = name
        exchange = options.get("exchange")
        if isinstance(exchange, str) or exchange is None:
            exchange = ExchangeSpec(
                exchange or "",
                type=str(options.get("exchange_type") or "direct"),
                durable=bool(options.get("exchange_durable", True)),
            )
        self.exchange = exchange
        self.routing_key = options.get("routing_key") or options.get("binding_key") or name
        self.durable = options.get("durable", True)
        self.exclusive = options.get("exclusive", False)
        self.auto_delete = options.get("auto_delete", False)
        self.queue_arguments = options.get("queue_arguments")
        self.binding_arguments = options.get("binding_arguments")
        for attribute in _ARGUMENT_ATTRIBUTES:
            setattr(self, attribute, options.get(attribute))


class Topology:
    """The queues an app's settings declare, and the rule for any other name."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        def get(name: str, default: Any = None) -> Any:
            value = settings.get(name)
            return default if value is None else value

        self.default_queue = str(get("task_default_queue", "celery"))
        self.default_exchange = ExchangeSpec(
            str(get("task_default_exchange", self.default_queue)),
            type=str(get("task_default_exchange_type", "direct")),
        )
        self.default_routing_key = str(get("task_default_routing_key", self.default_queue))
        self.max_priority: int | None = settings.get("task_queue_max_priority")
        self.default_queue_type = str(get("task_default_queue_type", "classic"))
        self.missing_queue_type = str(get("task_create_missing_queue_type", "classic"))
        self.missing_exchange_type = settings.get("task_create_missing_queue_exchange_type")
        self.create_missing = bool(get("task_create_missing_queues", True))
        self.queues: dict[str, QueueSpec] = {}
        for obj in self._entries(settings.get("task_queues")):
            spec = self.spec_of(obj)
            self.queues[spec.name] = spec
        if not self.queues:
            arguments = {"x-queue-type": "quorum"} if self.default_queue_type == "quorum" else {}
            if self.max_priority is not None:
                arguments["x-max-priority"] = self.max_priority
            self.queues[self.default_queue] = QueueSpec(
                self.default_queue,
                arguments=arguments,
                bindings=(Binding(self.default_exchange, self.default_routing_key),),
            )

    @staticmethod
    def _entries(declared: object) -> Iterable[object]:
        if not declared:
            return []
        if isinstance(declared, Mapping):
            return [
                _DictQueue(str(name), value) if isinstance(value, Mapping) else value
                for name, value in declared.items()
            ]
        if isinstance(declared, str) or not isinstance(declared, Iterable):
            raise ImproperlyConfigured(
                f"setting 'task_queues' expects a list of queues or a dict of them by name, "
                f"got {type(declared).__name__}"
            )
        return [
            _DictQueue(str(item["name"]), item) if isinstance(item, Mapping) else item
            for item in declared
        ]

    def spec_of(self, obj: object) -> QueueSpec:
        """A queue object (kombu's, celeriac's, a name) as the spec to declare."""
        if isinstance(obj, str):
            return self.missing(obj)
        name = str(getattr(obj, "name", "") or "")
        if not name:
            raise ImproperlyConfigured(f"a queue in task_queues has no name: {obj!r}")
        exclusive = bool(getattr(obj, "exclusive", False))
        bindings: list[Binding] = []
        extra = getattr(obj, "bindings", None) or ()
        if not extra:
            exchange = _exchange(getattr(obj, "exchange", None), self.default_exchange)
            routing_key = getattr(obj, "routing_key", None) or self.default_routing_key
            arguments = getattr(obj, "binding_arguments", None) or None
            bindings.append(Binding(exchange, str(routing_key), arguments))
        for binding in extra:
            exchange = _exchange(getattr(binding, "exchange", None), self.default_exchange)
            key = getattr(binding, "routing_key", None) or ""
            bindings.append(Binding(exchange, str(key), getattr(binding, "arguments", None)))
        return QueueSpec(
            name=name,
            durable=bool(getattr(obj, "durable", True)),
            exclusive=exclusive,
            auto_delete=exclusive or bool(getattr(obj, "auto_delete", False)),
            arguments=queue_arguments(obj, self.max_priority),
            bindings=tuple(bindings),
        )

    def missing(self, name: str) -> QueueSpec:
        """The queue Celery creates for a name no setting declares."""
        if self.missing_queue_type not in ("classic", "quorum"):
            raise ImproperlyConfigured(
                f"task_create_missing_queue_type must be 'classic' or 'quorum', "
                f"got {self.missing_queue_type!r}"
            )
        arguments: dict[str, Any] = {}
        if self.missing_queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
        if self.max_priority is not None:
            arguments["x-max-priority"] = self.max_priority
        exchange = ExchangeSpec(name, type=str(self.missing_exchange_type or "direct"))
        return QueueSpec(name, arguments=arguments, bindings=(Binding(exchange, name),))

    def queue(self, name: str) -> QueueSpec:
        """The spec of the queue ``name`` (declared, or made as Celery makes missing ones)."""
        spec = self.queues.get(name)
        if spec is None:
            spec = self.queues[name] = self.missing(name)
        return spec
