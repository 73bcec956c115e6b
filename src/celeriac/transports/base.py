"""What every transport shares: deliveries, dead letters, options, subscriptions, a base class."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from celeriac.protocol.message import Message

__all__ = ["DeadLetter", "Delivery", "Subscription", "Transport", "TransportOptions"]


@dataclass(slots=True)
class Delivery:
    """A message leased to one consumer, to be acked, requeued or dead-lettered.

    Attributes:
        message: the decoded message, or ``None`` when the stored bytes are not an envelope.
        queue: the queue it was taken from.
        tag: the transport's handle for this delivery (opaque string).
        delivery_count: how many times it has been handed out, this time included.
        raw: the stored bytes when ``message`` is ``None``.
        error: why the stored bytes could not be decoded, when ``message`` is ``None``.
    """

    message: Message | None
    queue: str
    tag: str
    delivery_count: int = 1
    raw: bytes | None = None
    error: str | None = None

    @property
    def redelivered(self) -> bool:
        """True when the message was handed out before (to this or another consumer).

        Besides our own delivery count, kombu's flags count: a message a Celery worker
        took and kombu restored carries ``redelivered`` in its headers and delivery_info.
        """
        if self.delivery_count > 1:
            return True
        if self.message is None:
            return False
        info = self.message.properties.get("delivery_info")
        return bool(
            self.message.headers.get("redelivered")
            or (isinstance(info, dict) and info.get("redelivered"))
        )


@dataclass(slots=True)
class DeadLetter:
    """A message parked because it could not or must not be run."""

    queue: str
    reason: str
    raw: bytes
    created_at: float
    task_id: str | None = None
    task_name: str | None = None
    #: the broker's id for this entry (``DeadLetters.requeue_dead_letters`` and
    #: ``discard_dead_letters`` take it); "" where the broker has no ids
    id: str = ""


@dataclass(slots=True)
class TransportOptions:
    """Settings a transport reads (``broker_transport_options`` plus task settings).

    Attributes:
        visibility_timeout: seconds a lease lasts unless renewed; a dead consumer's
            messages come back after this long.
        max_deliveries: after this many deliveries without an ack the message is
            dead-lettered (``task_max_deliveries``).
        polling_interval: longest pause between two looks at an idle queue, in seconds.
        extra: every other transport option, as given.
        settings: the app's settings (read-only), for transports that declare what the
            settings describe (the AMQP transport's queues and exchanges).
    """

    visibility_timeout: float = 3600.0
    max_deliveries: int = 5
    polling_interval: float = 0.02
    extra: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


class Subscription(abc.ABC):
    """Messages published to a fanout exchange after the subscription started.

    Broadcasts are fire-and-forget (kombu's fanout on Redis is PUB/SUB): nothing is
    stored for a subscriber that is not listening, and nothing is acked.
    """

    @abc.abstractmethod
    async def get(self, timeout: float) -> Message | None:
        """The next broadcast message, or None when none came within ``timeout`` seconds."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop listening and release the connection."""


class Transport(abc.ABC):
    """The base of celeriac's transports: a :class:`~celeriac.transports.contracts.WorkQueue`
    with :class:`~celeriac.transports.contracts.Admin`, and the defaults they share.

    Producers call :meth:`publish` from any thread. A worker calls :meth:`open`, then
    :meth:`fetch` in a loop, and settles every delivery with exactly one of :meth:`ack`,
    :meth:`requeue` or :meth:`dead_letter`. A delivery not settled before its lease runs
    out (``visibility_timeout``) is handed out again, unless :meth:`renew` extended it.

    Optional capabilities (broadcast, leader lock, rate store, blocking renewal, settling
    with results, batch and raw publishing) are not here: a transport class that has one
    implements its protocol from :mod:`celeriac.transports.contracts`, and callers check
    with ``isinstance``.
    """

    #: URL schemes this class serves.
    schemes: ClassVar[tuple[str, ...]] = ()
    #: True when producer and worker may live in different processes.
    crosses_processes: ClassVar[bool] = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        self.url = url
        self.options = options or TransportOptions()

    def __enter__(self) -> Transport:
        """``with app.connection() as connection:`` (Celery's idiom) gives the transport;
        it stays open (it is the app's, shared by the process)."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to release: whoever made the transport closes it."""
        return None

    # -- producer side (sync; safe from any thread) --------------------------------
    @abc.abstractmethod
    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put a message on a queue.

        Args:
            message: the message to store.
            queue: destination queue name.
            priority: 0 (lowest) to 9 (highest); higher runs first.
            eta: epoch seconds before which the message must not be handed out.
        """

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish` (defaults to running it on a thread)."""
        await asyncio.to_thread(self.publish, message, queue, priority=priority, eta=eta)

    # -- consumer side (async) ----------------------------------------------------
    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare to consume (connections, background tasks)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` took."""

    @property
    def consumer_id(self) -> str:
        """This consumer's identity, as recorded on the leases it holds."""
        return ""

    @abc.abstractmethod
    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` ready messages from ``queues`` (earlier queues first).

        Waits up to ``timeout`` seconds for the first message; returns ``[]`` if none came.
        Messages past ``max_deliveries`` are dead-lettered instead of being returned.
        """

    @abc.abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove settled messages for good."""

    @abc.abstractmethod
    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Make leased messages available again now.

        Args:
            deliveries: the messages to give back.
            count: when False (a shutdown giving back prefetched work) the delivery does
                not count towards ``max_deliveries``.
        """

    @abc.abstractmethod
    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in the dead-letter store with a reason, and drop its lease."""

    async def renew(self, deliveries: Sequence[Delivery]) -> None:  # noqa: B027
        """Extend the leases of messages still being worked on."""

    async def defer(self, delivery: Delivery, eta: float) -> bool:
        """Park a leased message in the broker until ``eta`` (epoch seconds) and drop the lease.

        Returns False when this transport cannot (the worker then holds the message
        itself until due). Transports that keep ETA messages out of reach until due
        (``publish(eta=...)``) only see early ones sent by other producers, such as a
        Celery client on a shared Redis queue.
        """
        return False

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back at once every lease held by a consumer known to be dead; return the count.

        Args:
            consumer_id: the dead consumer.
            running: the tags of the deliveries it had started, when known (a prefork
                parent knows them): the others were only prefetched, so this delivery
                does not count towards ``max_deliveries`` for them.
        """
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sync resources (producer connections)."""

    # -- admin (sync) ---------------------------------------------------------------
    @abc.abstractmethod
    def queue_length(self, queue: str) -> int:
        """Messages waiting in a queue (leased ones excluded, delayed ones included)."""

    @abc.abstractmethod
    def purge(self, queue: str) -> int:
        """Delete every waiting message of a queue; return how many were deleted."""

    @abc.abstractmethod
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead-lettered messages (newest last)."""
