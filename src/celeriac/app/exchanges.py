"""Exchange semantics for brokers without exchanges: which queues a publish reaches.

RabbitMQ routes a message sent to exchange X with routing key K to every queue bound to X
whose binding matches K: ``direct`` when the binding key equals K, ``topic`` when the
binding key's words match K's (``*`` one word, ``#`` zero or more), ``fanout`` always,
``headers`` when the message headers match the binding arguments (``x-match`` ``all`` or
``any``). SQLite, Redis and memory store messages per queue, so celeriac resolves the
bindings when it publishes, from the queues the app declares (kombu's virtual transports
do the same from a binding table), and stores one copy per queue reached.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from celeriac.config.entities import Queue, binding
from celeriac.config.queues import QueueTable
from celeriac.exceptions import QueueNotFound

__all__ = ["binding_matches", "queues_reached", "topic_matches"]


@functools.lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """Whether topic binding key ``pattern`` matches ``routing_key`` (AMQP 0-9-1 rules).

    Words are separated by dots; ``*`` stands for exactly one word, ``#`` for zero or more.
    """
    return _words_match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _words_match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_words_match(rest, key[skip:]) for skip in range(len(key) + 1))
    if not key:
        return False
    return (head == "*" or head == key[0]) and _words_match(rest, key[1:])


def _headers_match(arguments: Mapping[str, object] | None, headers: Mapping[str, object]) -> bool:
    wanted = dict(arguments or {})
    mode = str(wanted.pop("x-match", "all"))
    with_x = mode.endswith("-with-x")
    pairs = [(k, v) for k, v in wanted.items() if with_x or not k.startswith("x-")]
    hits = (key in headers and (value is None or headers[key] == value) for key, value in pairs)
    if mode.startswith("any"):
        return any(hits)
    return all(hits)


def binding_matches(
    item: binding, exchange_type: str, routing_key: str, headers: Mapping[str, object]
) -> bool:
    """Whether a message with ``routing_key`` and ``headers`` passes ``item``."""
    if exchange_type == "fanout":
        return True
    if exchange_type == "topic":
        return topic_matches(item.routing_key, routing_key)
    if exchange_type == "headers":
        return _headers_match(item.arguments, headers)
    return item.routing_key == routing_key


def _is_broadcast(queue: Queue) -> bool:
    """kombu's ``Broadcast``: a ``bcast.<uuid>`` queue per process, aliased to its name."""
    return bool(queue.alias) and queue.name.startswith("bcast.") and queue.auto_delete


def queues_reached(
    table: QueueTable,
    exchange: str,
    routing_key: str,
    headers: Mapping[str, object],
    declared: Queue | None = None,
) -> list[str]:
    """The queues a message sent to ``exchange`` with ``routing_key`` reaches.

    ``exchange`` ``''`` (the default exchange) reaches the queue named ``routing_key``.
    Otherwise every queue in ``table`` (and ``declared``, the queue the route named, which
    Celery declares before publishing) with a matching binding to ``exchange``.

    Raises:
        QueueNotFound: no binding matches: on RabbitMQ the message would be dropped.
    """
    if not exchange:
        return [routing_key]
    candidates = list(table.bound_to(exchange))
    if declared is not None and declared not in candidates:
        candidates.append(declared)
    reached: list[str] = []
    kinds: set[str] = set()
    for queue in candidates:
        if _is_broadcast(queue):
            raise QueueNotFound(
                f"queue {queue.alias!r} is a kombu Broadcast queue (one queue per worker on a "
                f"fanout exchange): it needs a broker with exchanges such as RabbitMQ; on this "
                f"broker use app.control.broadcast to reach every worker"
            )
        for item in queue.all_bindings():
            if item.exchange is None or item.exchange.name != exchange:
                continue
            kinds.add(item.exchange.type)
            if binding_matches(item, item.exchange.type, routing_key, headers):
                reached.append(queue.name)
                break
    if not reached:
        kind = "/".join(sorted(kinds)) or "no queue bound"
        raise QueueNotFound(
            f"no queue is bound to exchange {exchange!r} ({kind}) with a binding matching "
            f"routing key {routing_key!r}: the message would be lost, so it is not sent "
            f"(declare a queue with that binding in task_queues)"
        )
    return reached
