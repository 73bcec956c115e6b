"""The queues a configuration declares, as Celery's ``app.amqp.queues`` builds them.

``task_queues`` (else one queue, ``task_default_queue``) with Celery's defaults applied:
a queue on no exchange gets ``task_default_exchange`` (of ``task_default_exchange_type``)
and, with no routing key, ``task_default_routing_key`` (both default to the default queue's
name); ``task_queue_max_priority`` becomes ``x-max-priority`` where a queue sets none; a
queue named but not declared is created on demand (``task_create_missing_queues``) on a
direct exchange of its own name, bound with its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from celeriac.config.entities import Exchange, Queue, as_queue
from celeriac.config.settings import Settings
from celeriac.exceptions import ImproperlyConfigured, QueueNotFound

__all__ = ["QueueTable", "declared_queues", "queue_declarations", "queue_table"]


@dataclass(frozen=True)
class QueueTable:
    """Queue name → :class:`~celeriac.config.entities.Queue`, with the defaults for the rest.

    Attributes:
        queues: the declared queues by name (aliases included), defaults applied.
        default_queue: ``task_default_queue``'s queue.
        default_exchange: the exchange of queues that name none.
        default_routing_key: the routing key of queues that give none.
        create_missing: a queue named but not declared is made (else :meth:`get` raises).
        missing_queue_type: ``x-queue-type`` of made queues (``classic`` declares none).
        missing_exchange_type: exchange type of made queues (``None``: direct).
        max_priority: ``x-max-priority`` for queues that set none.
    """

    queues: Mapping[str, Queue]
    default_queue: Queue
    default_exchange: Exchange
    default_routing_key: str
    create_missing: bool = True
    missing_queue_type: str = "classic"
    missing_exchange_type: str | None = None
    max_priority: int | None = None
    _by_exchange: dict[str, tuple[Queue, ...]] = field(default_factory=dict, compare=False)
    _made: dict[str, Queue] = field(default_factory=dict, compare=False)

    def __contains__(self, name: object) -> bool:
        return name in self.queues

    def get(self, name: str) -> Queue:
        """The queue called ``name``: declared, else made as Celery makes missing queues.

        Raises:
            QueueNotFound: ``name`` is not declared and ``task_create_missing_queues`` is off.
        """
        found = self.queues.get(name)
        if found is not None:
            return found
        if not self.create_missing:
            declared = ", ".join(sorted(self.queues)) or "none"
            raise QueueNotFound(
                f"queue {name!r} is not in task_queues (declared: {declared}) and "
                f"task_create_missing_queues is off"
            )
        return self.missing(name)

    def missing(self, name: str) -> Queue:
        """The queue Celery creates for an undeclared ``name`` (made once per table)."""
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = self._make(name)
        return made

    def _make(self, name: str) -> Queue:
        arguments = None
        if self.missing_queue_type and self.missing_queue_type != "classic":
            arguments = {"x-queue-type": self.missing_queue_type}
        exchange = Exchange(name, self.missing_exchange_type or "direct")
        return self.defaults(Queue(name, exchange, name, queue_arguments=arguments))

    def defaults(self, queue: Queue) -> Queue:
        """``queue`` with the table's defaults applied (Celery's ``Queues._add``)."""
        changes: dict[str, object] = {}
        if queue.exchange is None or not queue.exchange.name:
            changes["exchange"] = self.default_exchange
        if not queue.routing_key:
            changes["routing_key"] = self.default_routing_key
        arguments = queue.queue_arguments or {}
        if self.max_priority is not None and "x-max-priority" not in arguments:
            changes["queue_arguments"] = {**arguments, "x-max-priority": self.max_priority}
        return queue.replace(**changes) if changes else queue

    def select(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Queue]:
        """The queues a worker consumes: ``include`` (``-Q``; default: every declared queue)
        less ``exclude`` (``-X``), names or aliases, made when not declared (Celery's
        ``Queues.select``/``deselect``; a worker warns when Celery would refuse one)."""
        chosen = [self.queues.get(name) or self.missing(name) for name in include]
        if not chosen:
            chosen = self.declared()
        dropped = {(self.queues[name].name if name in self.queues else name) for name in exclude}
        unique = {queue.name: queue for queue in chosen if queue.name not in dropped}
        return list(unique.values())

    def names(self) -> list[str]:
        """The declared queue names (aliases left out), in declaration order."""
        return list(dict.fromkeys(queue.name for queue in self.queues.values()))

    def declared(self) -> list[Queue]:
        """The declared queues (aliases left out), in declaration order."""
        return list({queue.name: queue for queue in self.queues.values()}.values())

    def bound_to(self, exchange: str) -> tuple[Queue, ...]:
        """The declared queues with a binding to ``exchange``."""
        found = self._by_exchange.get(exchange)
        if found is None:
            found = tuple(
                queue
                for queue in self.declared()
                if any(
                    item.exchange is not None and item.exchange.name == exchange
                    for item in queue.all_bindings()
                )
            )
            self._by_exchange[exchange] = found
        return found


def _raw_queues(conf: Settings) -> list[Queue]:
    declared = conf.task_queues or ()
    if isinstance(declared, Mapping):
        return [as_queue(options, name=str(name)) for name, options in declared.items()]
    if not isinstance(declared, Iterable) or isinstance(declared, str | bytes):
        raise ImproperlyConfigured(
            f"setting 'task_queues' expects a list of queues or a dict of them by name, "
            f"got {type(declared).__name__}"
        )
    try:
        return [as_queue(queue) for queue in declared]
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"setting 'task_queues': {exc}") from exc


def _build(conf: Settings) -> QueueTable:
    default_name = conf.task_default_queue
    default_exchange = Exchange(
        conf.task_default_exchange or default_name, conf.task_default_exchange_type or "direct"
    )
    default_key = conf.task_default_routing_key or default_name
    table = QueueTable(
        queues={},
        default_queue=Queue(default_name),
        default_exchange=default_exchange,
        default_routing_key=default_key,
        create_missing=bool(conf.task_create_missing_queues),
        missing_queue_type=conf.task_create_missing_queue_type or "classic",
        missing_exchange_type=conf.task_create_missing_queue_exchange_type or None,
        max_priority=conf.task_queue_max_priority,
    )
    raw = _raw_queues(conf)
    if not raw and default_name:
        quorum = conf.task_default_queue_type == "quorum"
        raw = [
            Queue(
                default_name,
                default_exchange,
                default_key,
                queue_arguments={"x-queue-type": "quorum"} if quorum else None,
            )
        ]
    queues: dict[str, Queue] = {}
    for queue in raw:
        queue = table.defaults(queue)
        queues[queue.name] = queue
        if queue.alias:
            queues[queue.alias] = queue
    default = queues.get(default_name) or table.missing(default_name)
    return QueueTable(
        queues=queues,
        default_queue=default,
        default_exchange=default_exchange,
        default_routing_key=default_key,
        create_missing=table.create_missing,
        missing_queue_type=table.missing_queue_type,
        missing_exchange_type=table.missing_exchange_type,
        max_priority=table.max_priority,
    )


def queue_table(conf: Settings) -> QueueTable:
    """The :class:`QueueTable` of ``conf``, kept until the settings change.

    Raises:
        ImproperlyConfigured: ``task_queues`` holds something that is not a queue.
    """
    return conf.snapshot(_build)


def queue_declarations(conf: Settings) -> list[Queue]:
    """The queues ``conf`` declares, as full :class:`~celeriac.config.entities.Queue` objects
    with Celery's defaults applied (what a worker consumes and declares by default)."""
    return queue_table(conf).declared()


def declared_queues(conf: Settings) -> list[str]:
    """The names of the queues ``conf`` declares, as a worker consumes them by default.

    ``task_queues`` may hold queue objects (celeriac's or kombu's), dicts with a
    ``"name"``, plain names, or be a dict of options keyed by queue name, as in Celery.
    When it is unset or empty, the one queue is ``task_default_queue``.

    Raises:
        ImproperlyConfigured: ``task_queues`` is set to something that is not a collection.
    """
    return queue_table(conf).names()
