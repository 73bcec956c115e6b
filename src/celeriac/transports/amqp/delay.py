"""ETA and countdown in the broker: Celery 5.5+'s native delayed delivery topology.

kombu's layout, declared identically so Celery and celeriac share it: 28 topic exchanges
and queues ``celery_delayed_0`` … ``celery_delayed_27``; queue *L* holds a message for
2^L seconds (``x-message-ttl``) and then dead-letters it to exchange *L-1*. A delayed
message is published to ``celery_delayed_27`` with the routing key
``b27.b26.….b0.<routing key>``, the countdown's 28 binary digits: at level *L* a ``1``
routes it through queue *L* (a wait of 2^L s), a ``0`` straight on to exchange *L-1*
(exchange-to-exchange bindings). After level 0 it reaches the topic exchange
``celery_delayed_delivery``, which hands it on by the routing key's tail.

How it gets home: Celery binds a queue's (topic) exchange to ``celery_delayed_delivery``
with ``#.<routing key>`` and the queue to its exchange with the same key; direct
exchanges cannot match that, so Celery leaves their ETA tasks in worker memory. celeriac
declares Celery's bindings too, and for every queue also binds the queue itself to
``celery_delayed_delivery`` with ``#.<queue name>`` and publishes with the queue's name
as the tail: ETA tasks of queues on direct exchanges (the default) wait in the broker
as well. The levels are whole seconds; the fraction left when a message comes out (under
a second) the worker waits out itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celeriac.transports.amqp.topology import QueueSpec

__all__ = [
    "DELAY_EXCHANGE",
    "DELIVERY_EXCHANGE",
    "MAX_DELAY",
    "Declaration",
    "delay_routing_key",
    "delay_seconds",
    "delay_topology",
    "queue_delay_bindings",
]

LEVELS = 28
#: The exchange delayed messages are published to.
DELAY_EXCHANGE = f"celery_delayed_{LEVELS - 1}"
#: The exchange delayed messages leave through.
DELIVERY_EXCHANGE = "celery_delayed_delivery"
#: The longest delay, in seconds (2^28 - 1, about 8.5 years).
MAX_DELAY = 2**LEVELS - 1


@dataclass(frozen=True, slots=True)
class Declaration:
    """One step of declaring the topology (an AMQP method and its arguments)."""

    kind: str  # "exchange", "queue", "queue_bind", "exchange_bind"
    name: str
    source: str = ""
    routing_key: str = ""
    arguments: dict[str, Any] | None = None


def _level(level: int) -> str:
    return f"celery_delayed_{level}"


def delay_topology(queue_type: str = "quorum") -> Iterator[Declaration]:
    """The exchanges, queues and bindings, in kombu's order and with kombu's arguments."""
    routing_key = "1.#"
    for level in range(LEVELS - 1, -1, -1):
        name = _level(level)
        arguments: dict[str, Any] = {
            "x-queue-type": queue_type,
            "x-overflow": "reject-publish",
            "x-message-ttl": 2**level * 1000,
            "x-dead-letter-exchange": _level(level - 1) if level > 0 else DELIVERY_EXCHANGE,
        }
        if queue_type == "quorum":
            arguments["x-dead-letter-strategy"] = "at-least-once"
        yield Declaration("exchange", name)
        yield Declaration("queue", name, arguments=arguments)
        yield Declaration("queue_bind", name, source=name, routing_key=routing_key)
        routing_key = "*." + routing_key
    routing_key = "0.#"
    for level in range(LEVELS - 1, 0, -1):
        yield Declaration("exchange_bind", _level(level - 1), _level(level), routing_key)
        routing_key = "*." + routing_key
    yield Declaration("exchange", DELIVERY_EXCHANGE)
    yield Declaration("exchange_bind", DELIVERY_EXCHANGE, _level(0), routing_key)


def queue_delay_bindings(spec: QueueSpec) -> Iterator[Declaration]:
    """The bindings that bring a delayed message home to ``spec`` (see the module doc)."""
    yield Declaration("queue_bind", spec.name, DELIVERY_EXCHANGE, f"#.{spec.name}")
    for binding in spec.bindings:
        if not binding.exchange.name or binding.exchange.type == "direct":
            continue
        key = binding.routing_key
        key = key if key.startswith("#") else f"#.{key}"
        yield Declaration("exchange_bind", binding.exchange.name, DELIVERY_EXCHANGE, key)
        yield Declaration("queue_bind", spec.name, binding.exchange.name, key)


def delay_seconds(eta: float | None) -> int:
    """Whole seconds to wait in the delay queues for ``eta`` (0: publish it now)."""
    if eta is None:
        return 0
    remaining = eta - time.time()
    return int(remaining) if remaining >= 1 else 0


def delay_routing_key(seconds: int, routing_key: str) -> str:
    """kombu's ``calculate_routing_key``: 28 binary digits, dot-separated, then the key."""
    if seconds < 1:
        raise ValueError("a delay is at least one second")
    seconds = min(seconds, MAX_DELAY)
    return ".".join(f"{seconds:028b}") + f".{routing_key}"
