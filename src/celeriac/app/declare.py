"""Declaring queues, their exchanges and bindings on brokers that keep them.

A transport with :class:`~celeriac.transports.contracts.DeclareQueues` (RabbitMQ; Redis,
which keeps kombu's binding tables) is told each queue as the app declares it (its
:class:`~celeriac.config.entities.Queue`, defaults applied) before a producer publishes to
it and when a worker starts consuming it, as Celery does. Others need nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.config.queues import queue_table
from celeriac.exceptions import BrokerError
from celeriac.transports.contracts import DeclareQueues

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["declare_at_start", "declare_before_publish", "declare_queues", "declares"]

logger = logging.getLogger("celery.app.declare")


@functools.cache
def declares(kind: type) -> bool:
    """Whether transports of class ``kind`` keep declared queues (checked once per class)."""
    return issubclass(kind, DeclareQueues)


def declare_queues(app: Celery, names: Sequence[str]) -> None:
    """Declare the queues called ``names`` (declared, else made as Celery makes missing ones)
    on the app's broker, when it keeps them."""
    transport = app.transport
    if not declares(type(transport)):
        return
    table = queue_table(app.conf)
    queues = [table.queues.get(name) or table.missing(name) for name in names]
    transport.declare_queues(queues)  # type: ignore[attr-defined]  # declares() checked


def declare_before_publish(app: Celery, queue: str) -> None:
    """:func:`declare_queues` for a producer: a broker error is left to the publish that
    follows, which retries per the publish retry policy and raises if it cannot send."""
    try:
        declare_queues(app, [queue])
    except BrokerError as exc:
        logger.debug("Declaring queue %s failed (%s); the publish retries", queue, exc)


#: Celery's words when the broker is down at start-up and retrying is off.
NO_RETRY_ON_STARTUP = (
    "Retrying to establish a connection to the message broker after a connection loss has "
    "been disabled (app.conf.broker_connection_retry_on_startup=False). Shutting down..."
)


def declare_at_start(app: Celery, names: Sequence[str]) -> bool:
    """:func:`declare_queues` for a starting worker: a failure is logged, not raised (the
    worker's consumer reconnects and its transport declares again).

    Returns False when the broker cannot be reached and ``broker_connection_retry_on_startup``
    (else ``broker_connection_retry``) is off: the worker then stops, as Celery's does.
    """
    try:
        declare_queues(app, names)
    except BrokerError as exc:
        on_startup = app.conf.broker_connection_retry_on_startup
        if not (app.conf.broker_connection_retry if on_startup is None else on_startup):
            logger.critical(
                "consumer: Cannot connect to the broker: %s\n%s", exc, NO_RETRY_ON_STARTUP
            )
            return False
        logger.warning("Could not declare queues %s yet: %s", ", ".join(names), exc)
    except Exception as exc:
        logger.warning("Could not declare queues %s yet: %s", ", ".join(names), exc)
    return True
