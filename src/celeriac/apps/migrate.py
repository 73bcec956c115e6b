"""Move task messages between queues and brokers (Celery's ``celery.contrib.migrate``,
which ``celeriac.contrib.migrate`` re-exports).

:func:`migrate_tasks` copies (``ack_messages=True``: moves) every message of the source
broker's queues to the same queues (or ``queues={"src": "dest"}``) on the destination
broker; :func:`move` and its shortcuts (:func:`move_task_by_id`, :func:`move_by_idmap`,
:func:`move_by_taskmap`, :func:`move_direct`) move the messages a predicate picks to
another queue. ``celeriac migrate SOURCE DEST`` runs :func:`migrate_tasks`.

Messages are leased from the source while the run lasts; the ones not moved (or not
acked) are given back at the end, so one run never sees the same message twice.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celeriac.app import app_or_default
from celeriac.config.queues import declared_queues
from celeriac.protocol.message import Message
from celeriac.protocol.serializers import loads
from celeriac.transports.base import Delivery, Transport
from celeriac.transports.registry import create_transport
from celeriac.utils.nodenames import worker_direct

__all__ = [
    "State",
    "StopFiltering",
    "migrate_task",
    "migrate_tasks",
    "move",
    "move_by_idmap",
    "move_by_taskmap",
    "move_direct",
    "move_direct_by_id",
    "move_task_by_id",
    "republish",
    "start_filter",
    "task_id_eq",
    "task_id_in",
]

#: Properties not copied to the republished message (the source broker's own).
REMOVE_PROPS = ("delivery_info", "delivery_tag", "body_encoding")


class StopFiltering(Exception):
    """Raised by a filter or callback to end the run."""


class State:
    """Counts of a run: messages seen (``count``), moved by :func:`move` (``filtered``)."""

    count = 0
    filtered = 0
    total_apx = 0

    @property
    def strtotal(self) -> str:
        """The approximate total, or ``?``."""
        return str(self.total_apx) if self.total_apx else "?"

    def __repr__(self) -> str:
        return f"{self.count}/{self.strtotal}"


def _transport(conn: Any, app: Any) -> Transport:
    if conn is None:
        return app.connection()  # type: ignore[no-any-return]
    if isinstance(conn, str):
        return create_transport(conn, app.transport_options())
    return conn  # type: ignore[no-any-return]


def _consumer(conn: Any, app: Any) -> Transport:
    """A transport to consume from: the app's broker gets a fresh one (consuming opens
    and closes it), a URL a new one, a transport is used as it is."""
    if conn is None or conn is app.connection():
        return app.new_transport()  # type: ignore[no-any-return]
    return _transport(conn, app)


def _message(message: Any) -> Message:
    found = message.message if isinstance(message, Delivery) else message
    if not isinstance(found, Message):
        raise ValueError(f"not a task message: {message!r}")
    return found


def republish(
    producer: Transport,
    message: Message | Delivery,
    exchange: str | None = None,
    routing_key: str | None = None,
    remove_props: Iterable[str] = REMOVE_PROPS,
) -> None:
    """Publish a copy of ``message`` to the queue ``routing_key`` (by default the queue it
    came from) on ``producer`` (a transport), with its priority and ETA."""
    msg = _message(message)
    queue = routing_key or getattr(message, "queue", None) or exchange
    if not queue:
        raise ValueError("republish needs a routing_key (the destination queue)")
    drop = set(remove_props)
    copy = Message(
        msg.body,
        msg.content_type,
        msg.content_encoding,
        dict(msg.headers),
        {k: v for k, v in msg.properties.items() if k not in drop},
    )
    producer.publish(copy, queue, priority=msg.priority, eta=_eta(msg.headers.get("eta")))


def _eta(value: Any) -> float | None:
    if not value:
        return None
    from datetime import datetime

    return datetime.fromisoformat(str(value)).timestamp()


def migrate_task(
    producer: Transport, body_: Any, message: Delivery, queues: Mapping[str, str] | None = None
) -> None:
    """Republish ``message`` to its queue (renamed by ``queues``) on ``producer``."""
    queue = message.queue
    republish(producer, message, routing_key=(queues or {}).get(queue, queue))


def _task_names(tasks: str | Iterable[str] | None) -> set[str] | None:
    if tasks is None:
        return None
    return set(tasks.split(",")) if isinstance(tasks, str) else set(tasks)


def _queue_map(queues: str | Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``"a:b,c"`` (or a list, or a dict) as ``{source queue: destination queue}``."""
    if queues is None:
        return {}
    if isinstance(queues, Mapping):
        return dict(queues)
    items = queues.split(",") if isinstance(queues, str) else list(queues)
    pairs = (item.split(":", 1) if ":" in item else (item, item) for item in items if item)
    return {source.strip(): dest.strip() for source, dest in pairs}


def filter_callback(callback: Callable[..., Any], tasks: Iterable[str]) -> Callable[..., Any]:
    """``callback`` called only for messages of the named ``tasks``."""
    wanted = set(tasks)

    def filtered(body: Any, message: Delivery) -> Any:
        if _message(message).headers.get("task") in wanted:
            return callback(body, message)
        return None

    return filtered


def migrate_tasks(
    source: Any,
    dest: Any,
    migrate: Callable[..., Any] = migrate_task,
    app: Any = None,
    queues: str | Iterable[str] | Mapping[str, str] | None = None,
    **kwargs: Any,
) -> State:
    """Copy the source broker's messages to ``dest`` (``ack_messages=True``: move them).

    ``source``/``dest`` are broker URLs or transports; ``queues`` limits and renames the
    queues (``"a:b,c"``); ``tasks`` limits the task names; ``limit``, ``timeout``,
    ``forever``, ``callback(state, body, message)`` as :func:`start_filter`.
    """
    app = app_or_default(app)
    mapping = _queue_map(queues)
    producer = _transport(dest, app)
    handler = functools.partial(migrate, producer, queues=mapping)
    try:
        return start_filter(app, source, handler, queues=mapping or None, **kwargs)
    finally:
        if producer is not app.connection():
            producer.close()


def start_filter(
    app: Any,
    conn: Any,
    filter: Callable[[Any, Delivery], Any],
    limit: int | None = None,
    timeout: float = 1.0,
    ack_messages: bool = False,
    tasks: str | Iterable[str] | None = None,
    queues: str | Iterable[str] | Mapping[str, str] | None = None,
    callback: Callable[..., Any] | None = None,
    forever: bool = False,
    on_declare_queue: Callable[..., Any] | None = None,
    consume_from: Iterable[str] | None = None,
    state: State | None = None,
    accept: Any = None,
    **kwargs: Any,
) -> State:
    """Call ``filter(body, message)`` for each message of the queues (``consume_from``,
    else ``queues``' keys, else the app's), then ``callback(state, body, message)``;
    stop after ``limit`` messages or ``timeout`` seconds without one (never with
    ``forever``). ``ack_messages`` removes them from the source."""
    state = state or State()
    transport = _consumer(conn, app)
    names = list(consume_from or _queue_map(queues) or declared_queues(app.conf))
    state.total_apx = sum(transport.queue_length(name) for name in names)
    wanted = _task_names(tasks)
    acks: Callable[[Delivery], bool] = kwargs.pop("_ack", lambda _: ack_messages)

    def handle(delivery: Delivery) -> None:
        msg = delivery.message
        if msg is None or (wanted is not None and msg.headers.get("task") not in wanted):
            return
        body = loads(msg.body, msg.content_type, msg.content_encoding, accept=accept)
        filter(body, delivery)
        state.count += 1
        if callback is not None:
            callback(state, body, delivery)
        if limit and state.count >= limit:
            raise StopFiltering()

    asyncio.run(_drain(transport, names, handle, acks, timeout, forever))
    if transport is not app.connection():
        transport.close()
    return state


async def _drain(
    transport: Transport,
    names: list[str],
    handle: Callable[[Delivery], None],
    acks: Callable[[Delivery], bool],
    timeout: float,
    forever: bool,
) -> None:
    await transport.open()
    held: list[Delivery] = []
    done: list[Delivery] = []
    try:
        while True:
            deliveries = await transport.fetch(names, 100, timeout)
            if not deliveries and not forever:
                break
            for index, delivery in enumerate(deliveries):
                try:
                    handle(delivery)
                except StopFiltering:
                    (done if acks(delivery) else held).append(delivery)
                    held.extend(deliveries[index + 1 :])
                    return
                (done if acks(delivery) else held).append(delivery)
    finally:
        if done:
            await transport.ack(done)
        if held:
            await transport.requeue(held)
        await transport.aclose()


def task_id_eq(task_id: str, body: Any, message: Delivery) -> bool:
    """Whether the message is the task ``task_id``."""
    return bool(_message(message).headers.get("id") == task_id)


def task_id_in(ids: Iterable[str], body: Any, message: Delivery) -> bool:
    """Whether the message is one of the tasks ``ids``."""
    return _message(message).headers.get("id") in set(ids)


def move(
    predicate: Callable[[Any, Delivery], Any],
    connection: Any = None,
    exchange: str | None = None,
    routing_key: str | None = None,
    source: Iterable[str] | None = None,
    app: Any = None,
    callback: Callable[..., Any] | None = None,
    limit: int | None = None,
    transform: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> State:
    """Move each message for which ``predicate(body, message)`` returns a destination (a
    queue name, a ``(exchange, routing_key)`` pair, or True for ``routing_key``) there.

    ``source`` lists the queues to look in (the app's by default); ``limit`` stops after
    that many moves; ``transform`` maps the predicate's answer (``move_direct``: a node
    name to its direct queue).
    """
    app = app_or_default(app)
    state = State()
    producer = _transport(connection, app)
    moved: set[str] = set()

    def on_task(body: Any, message: Delivery) -> None:
        answer = predicate(body, message)
        if not answer:
            return
        if transform is not None:
            answer = transform(answer)
        if isinstance(answer, tuple):
            answer = answer[1] or answer[0]
        queue = answer if isinstance(answer, str) else getattr(answer, "name", routing_key)
        republish(producer, message, exchange=exchange, routing_key=queue or routing_key)
        moved.add(message.tag)
        state.filtered += 1
        if callback is not None:
            callback(state, body, message)
        if limit and state.filtered >= limit:
            raise StopFiltering()

    return start_filter(
        app, producer, on_task, consume_from=source, state=state,
        _ack=lambda delivery: delivery.tag in moved, **kwargs,
    )  # fmt: skip


def move_by_idmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by id: ``{task_id: destination queue}``."""

    def by_id(body: Any, message: Delivery) -> Any:
        return map.get(str(_message(message).headers.get("id")))

    return move(by_id, limit=len(map), **kwargs)


def move_by_taskmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by name: ``{task name: destination queue}``."""

    def by_name(body: Any, message: Delivery) -> Any:
        return map.get(str(_message(message).headers.get("task")))

    return move(by_name, **kwargs)


def move_task_by_id(task_id: str, dest: Any, **kwargs: Any) -> State:
    """Move the task ``task_id`` to the queue ``dest``."""
    return move_by_idmap({task_id: dest}, **kwargs)


#: :func:`move` to a worker's direct queue (the predicate returns its node name).
move_direct = functools.partial(move, transform=worker_direct)
#: :func:`move_task_by_id` to a worker's direct queue (``dest`` is its node name).
move_direct_by_id = functools.partial(move_task_by_id, transform=worker_direct)
