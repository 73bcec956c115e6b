"""``app.amqp``: Celery's view of the app's queues (``app.amqp.queues``) and defaults.

Celery projects read ``app.amqp.queues`` (queue name → ``Queue``), iterate it, look a queue
up by name or alias, and add a queue a worker consumes whatever ``-Q`` says
(``app.amqp.queues.select_add(name)`` in a ``celeryd_after_setup`` handler). Routing
itself reads the settings (:func:`celeriac.config.queues.queue_table`); a queue added here
with :meth:`Queues.add` is known to this mapping, and to a worker's ``-Q`` list with
:meth:`Queues.select_add`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from celeriac.app.routes import Router as RouterClass
from celeriac.app.routes import prepare
from celeriac.config.entities import Exchange, Queue, as_queue
from celeriac.config.queues import QueueTable, queue_table

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["AMQP", "Queues"]

QUEUE_FORMAT = ".> {name:<16} exchange={exchange}({type}) key={key}"


class Queues(dict[str, Queue]):
    """Queue name → :class:`~celeriac.config.entities.Queue` (Celery's ``Queues``).

    Aliases are looked up too; an unknown name is added as Celery's missing queue when
    ``task_create_missing_queues`` is on (else ``KeyError``).
    """

    def __init__(self, table: QueueTable) -> None:
        super().__init__({queue.name: queue for queue in table.declared()})
        self.table = table
        self.aliases: dict[str, Queue] = {
            name: queue for name, queue in table.queues.items() if name != queue.name
        }
        self.default_exchange: Exchange = table.default_exchange
        self.create_missing = table.create_missing
        self._consume_from: dict[str, Queue] | None = None
        #: queues added with :meth:`select_add`: consumed whatever ``-Q`` selects
        self.added: dict[str, Queue] = {}

    def __getitem__(self, name: str) -> Queue:
        alias = self.aliases.get(name)
        return alias if alias is not None else super().__getitem__(name)

    def __missing__(self, name: str) -> Queue:
        if self.create_missing:
            return self.add(self.new_missing(name))
        raise KeyError(name)

    def new_missing(self, name: str) -> Queue:
        """The queue Celery makes for an undeclared ``name``."""
        return self.table.missing(name)

    def add(self, queue: object, **options: object) -> Queue:
        """Add a queue (a ``Queue``, kombu's, or a name with Celery's dict options)."""
        if isinstance(queue, str):
            options.setdefault("routing_key", options.get("binding_key") or queue)
            found = as_queue({**options, "name": queue})
        else:
            found = as_queue(queue)
        found = self.table.defaults(found)
        self[found.name] = found
        if found.alias:
            self.aliases[found.alias] = found
        return found

    add_compat = add

    def select_add(self, queue: object, **options: object) -> Queue:
        """Add a queue that workers consume even when ``-Q`` selects others."""
        found = self.add(queue, **options)
        self.added[found.name] = found
        if self._consume_from is not None:
            self._consume_from[found.name] = found
        return found

    def select(self, include: str | Iterable[str] | None) -> None:
        """Consume only these queues (names or aliases)."""
        if include:
            names = [include] if isinstance(include, str) else list(include)
            self._consume_from = {self[name].name: self[name] for name in names}

    def deselect(self, exclude: str | Iterable[str] | None) -> None:
        """Stop consuming these queues (names or aliases)."""
        if exclude:
            names = [exclude] if isinstance(exclude, str) else list(exclude)
            consume = self.consume_from
            for name in names:
                consume.pop(self[name].name if name in self or name in self.aliases else name, None)
            self._consume_from = consume

    @property
    def consume_from(self) -> dict[str, Queue]:
        """The queues a worker consumes: the selection, else every queue."""
        if self._consume_from is not None:
            return self._consume_from
        return {**dict(self.items()), **self.added}

    def format(self, indent: int = 0, indent_first: bool = True) -> str:
        """The queues as Celery's worker banner lists them."""
        lines = []
        for name, queue in sorted(self.consume_from.items()):
            exchange = queue.exchange or self.default_exchange
            lines.append(
                QUEUE_FORMAT.format(
                    name=name, exchange=exchange.name, type=exchange.type, key=queue.routing_key
                )
            )
        pad = " " * indent
        return "\n".join((pad if indent_first or n else "") + line for n, line in enumerate(lines))


QueueMap = Queues  # the class, where AMQP's ``Queues`` method shadows its name


class AMQP:
    """``app.amqp``: the app's queues and routing defaults, as Celery's ``AMQP`` shows them."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._queues: QueueMap | None = None
        self._table: QueueTable | None = None

    def Queues(self, queues: Iterable[object] | Mapping[str, object]) -> Queues:
        """A :class:`Queues` of ``queues`` with this app's defaults."""
        table = queue_table(self.app.conf)
        made = Queues(table)
        made.clear()
        made.aliases.clear()
        items = queues.values() if isinstance(queues, Mapping) else queues
        for queue in items:
            made.add(queue)
        return made

    @property
    def queues(self) -> QueueMap:
        """Queue name → ``Queue``: ``task_queues`` with Celery's defaults (rebuilt when the
        settings change; queues added to it are kept until then)."""
        table = queue_table(self.app.conf)
        if self._queues is None or table is not self._table:
            self._queues, self._table = QueueMap(table), table
        return self._queues

    @property
    def default_queue(self) -> Queue:
        """``task_default_queue``'s queue."""
        return queue_table(self.app.conf).default_queue

    @property
    def default_exchange(self) -> Exchange:
        """The exchange of queues that name none."""
        return queue_table(self.app.conf).default_exchange

    @property
    def routes(self) -> list[object]:
        """``task_routes`` as prepared routers."""
        return prepare(self.app.conf.task_routes)

    def Router(
        self, queues: Mapping[str, Queue] | None = None, create_missing: bool | None = None
    ) -> RouterClass:
        """The app's router (Celery's ``app.amqp.Router()``)."""
        missing = (
            self.app.conf.task_create_missing_queues if create_missing is None else create_missing
        )
        return RouterClass(self.routes, queues or self.queues, bool(missing), app=self.app)

    @property
    def router(self) -> RouterClass:
        """The app's router, as ``Router()`` makes it."""
        return self.Router()

    def flush_routes(self) -> None:
        """Celery re-reads ``task_routes`` here; celeriac reads them at every call."""
