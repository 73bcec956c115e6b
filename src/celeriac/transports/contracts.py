"""The transport contracts, one small protocol per role; callers check them with ``isinstance``.

:class:`WorkQueue` is what every transport keeps: a producer publishes, a consumer leases,
settles and renews. Everything else is an optional capability a transport class has or
lacks, and a caller that needs one asks ``isinstance(transport, Broadcast)`` (and so on)
before using it, never ``getattr`` or a flag:

=====================  ======================================================  ===========
protocol               methods                                                 who asks
=====================  ======================================================  ===========
:class:`WorkQueue`     publish, apublish, open, aclose, close, consumer_id,    everyone
                       fetch, ack, requeue, dead_letter, renew, defer, recover
:class:`Admin`         queue_length, purge, dead_letters                       control, CLI
:class:`DeadLetters`   list_dead_letters, requeue_dead_letters,                dashboard
                       discard_dead_letters
:class:`Broadcast`     publish_fanout, subscribe_fanout, bind_queue,           remote control
                       publish_routed, pop_message, delete_queue (+ async)
:class:`LockStore`     acquire_lock, release_lock, read/write_lock_state       beat
:class:`RateStore`     acquire_rate                                            rate limits
:class:`BlockingRenewal`  renew_blocking                                       inline runner
:class:`ResultSettling`   can_settle_with, ack_with_results                    settler
:class:`BatchPublish`  publish_many                                            groups
:class:`RawPublish`    publish_raw                                             tests, tools
:class:`ExchangeRouting`  publish_to_exchange (+ async)                        send path
:class:`DeclareQueues`  declare_queues                                         producer, worker
:class:`ChannelLeases`  lease_lost                                             scheduler
=====================  ======================================================  ===========

A caller that finds a capability missing raises :func:`unsupported`, so the message is
the same wherever it is checked. The protocols are ``runtime_checkable``: ``isinstance``
looks the names up on every call (microseconds), so hot paths check once and keep the
answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

from celeriac.config.entities import Queue
from celeriac.protocol.message import Message
from celeriac.transports.base import DeadLetter, Delivery, Subscription, TransportOptions

__all__ = [
    "Admin",
    "BatchPublish",
    "BlockingRenewal",
    "Broadcast",
    "ChannelLeases",
    "DeadLetters",
    "DeclareQueues",
    "ExchangeRouting",
    "LockStore",
    "RateStore",
    "RawPublish",
    "ResultSettling",
    "WorkQueue",
    "Capability",
    "unsupported",
]


@runtime_checkable
class WorkQueue(Protocol):
    """Publish, lease, settle, renew: the contract a worker's consumer needs of a broker.

    Producers call :meth:`publish` from any thread. A worker calls :meth:`open`, then
    :meth:`fetch` in a loop, and settles every delivery with exactly one of :meth:`ack`,
    :meth:`requeue` or :meth:`dead_letter`; see :class:`~celeriac.transports.base.Transport`
    for the full description of each method.
    """

    options: TransportOptions

    @property
    def consumer_id(self) -> str:
        """This consumer's identity, as recorded on the leases it holds."""
        ...

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put a message on a queue (sync; safe from any thread)."""
        ...

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish`."""
        ...

    async def open(self) -> None:
        """Prepare to consume."""
        ...

    async def aclose(self) -> None:
        """Release what :meth:`open` took."""
        ...

    def close(self) -> None:
        """Release sync resources (producer connections)."""
        ...

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` ready messages, waiting up to ``timeout`` for the first."""
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove settled messages for good."""
        ...

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Make leased messages available again now."""
        ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in the dead-letter store with a reason, and drop its lease."""
        ...

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Extend the leases of messages still being worked on."""
        ...

    async def defer(self, delivery: Delivery, eta: float) -> bool:
        """Park a leased message in the broker until ``eta``; False when it cannot."""
        ...

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease of a consumer known to be dead; return the count."""
        ...


@runtime_checkable
class Admin(Protocol):
    """Look at and empty queues, and read the dead-letter store (sync)."""

    def queue_length(self, queue: str) -> int:
        """Messages waiting in a queue (leased ones excluded, delayed ones included)."""
        ...

    def purge(self, queue: str) -> int:
        """Delete every waiting message of a queue; return how many were deleted."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead-lettered messages (newest last)."""
        ...


@runtime_checkable
class DeadLetters(Protocol):
    """List dead letters by queue, and requeue or discard them by id (sync).

    Each :class:`~celeriac.transports.base.DeadLetter` listed carries the broker's ``id``
    for it; :meth:`requeue_dead_letters` and :meth:`discard_dead_letters` take those ids,
    ignore ids that are gone (already requeued or discarded by someone else) and return
    how many entries they moved or removed.
    """

    def list_dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest last."""
        ...

    def requeue_dead_letters(self, ids: Sequence[str]) -> int:
        """Put the messages back on the queues they were dead-lettered from, as they were
        stored (same task id and arguments, delivery count back to zero), and remove
        them from the dead-letter store; return how many were requeued."""
        ...

    def discard_dead_letters(self, ids: Sequence[str]) -> int:
        """Delete dead letters for good; return how many were deleted."""
        ...


@runtime_checkable
class Broadcast(Protocol):
    """Fanout exchanges and reply queues: what remote control (and events) travel on.

    A fanout exchange delivers to whoever listens now (remote control requests); a
    direct exchange with bound queues carries the replies (``reply.celery.pidbox``): the
    client binds its reply queue, the worker publishes to every queue bound with the
    routing key, and the client pops with a timeout, then deletes the queue.
    """

    def publish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Broadcast a message to every current subscriber of ``exchange`` (sync)."""
        ...

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        """Async twin of :meth:`publish_fanout`."""
        ...

    async def subscribe_fanout(
        self, exchange: str, routing_key: str = "", *, queue: str | None = None
    ) -> Subscription:
        """Start listening to ``exchange``; messages published from now on arrive.

        Args:
            exchange: the fanout exchange (``celery.pidbox``).
            routing_key: the binding key (``#`` matches any routing key).
            queue: the subscriber's queue name, recorded as a binding where the broker
                layout has one (kombu's ``_kombu.binding.<exchange>`` on Redis).
        """
        ...

    def bind_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Bind ``queue`` to the direct ``exchange`` with ``routing_key`` (sync)."""
        ...

    def publish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Put a message on every queue bound to ``exchange`` with ``routing_key``.

        Returns how many queues got it (0: nobody bound, the message is dropped, as kombu
        drops a reply whose client is gone).
        """
        ...

    async def apublish_routed(self, message: Message, exchange: str, routing_key: str) -> int:
        """Async twin of :meth:`publish_routed`."""
        ...

    def pop_message(self, queue: str, timeout: float) -> Message | None:
        """Take the oldest message of a reply queue, waiting up to ``timeout`` seconds (sync)."""
        ...

    def delete_queue(self, queue: str, exchange: str = "", routing_key: str = "") -> None:
        """Remove the binding ``exchange``/``routing_key`` of ``queue`` and its messages."""
        ...


@runtime_checkable
class LockStore(Protocol):
    """A leader lock and the state kept beside it (beat; sync, like publish)."""

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock ``name`` for ``ttl`` seconds, or renew it if ``owner`` holds it.

        Returns False when another owner holds an unexpired lock.
        """
        ...

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock ``name`` if ``owner`` holds it."""
        ...

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The key/value state stored beside the lock ``name`` (by its holders)."""
        ...

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Store ``items`` beside the lock, in one atomic step that first checks that
        ``owner`` still holds the lock (and renews it for ``ttl``): a fence, so a holder
        that lost the lock cannot write. Returns False (and writes nothing) if it lost it.
        """
        ...


@runtime_checkable
class RateStore(Protocol):
    """Rate limits shared by every worker on the broker (``rate_limit_scope='global'``)."""

    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of a rate shared by every worker on this broker.

        Slots of ``key`` are ``1 / rate`` seconds apart (up to ``burst`` may be taken at
        once after a quiet period); each call reserves one atomically in the broker's
        store and returns the seconds to wait until it (0: run now).
        """
        ...


@runtime_checkable
class BlockingRenewal(Protocol):
    """Lease renewal from another thread while the event loop is busy."""

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """Sync twin of ``renew``, safe from another thread while the loop is blocked.

        A worker that runs a sync body on its loop thread renews that body's lease from a
        watchdog thread through this.
        """
        ...


@runtime_checkable
class ChannelLeases(Protocol):
    """Leases that live as long as a connection (AMQP): the broker takes every delivery
    back the moment the connection that delivered it closes."""

    def lease_lost(self, delivery: Delivery) -> bool:
        """True when ``delivery`` is no longer held: its connection closed and the broker
        put it back on its queue (to be delivered again, here or elsewhere). A job that
        waited for its ETA or a free slot checks this before it starts, so the copy the
        broker redelivers is the only one that runs."""
        ...


@runtime_checkable
class ResultSettling(Protocol):
    """Store results and ack their messages in one step (broker and backend in one store)."""

    def can_settle_with(self, backend: object) -> bool:
        """True when ``backend`` keeps its results where this transport keeps messages."""
        ...

    async def ack_with_results(
        self,
        deliveries: Sequence[Delivery],
        items: Sequence[tuple[str, Mapping[str, object]]],
        backend: object,
    ) -> None:
        """Store ``items`` (task id, result meta) through ``backend`` and ack ``deliveries``
        in one transaction: a crash can never keep one without the other."""
        ...


@runtime_checkable
class BatchPublish(Protocol):
    """Several messages in a few round trips (a group's members)."""

    def publish_many(self, items: Sequence[tuple[Message, str, float | None]]) -> None:
        """Publish ``(message, queue, eta)`` items; each at its message's priority."""
        ...


@runtime_checkable
class RawPublish(Protocol):
    """Store bytes as they are, bypassing the envelope (tests, tools, replays)."""

    def publish_raw(
        self, raw: bytes, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put already-encoded bytes on a queue, stored verbatim."""
        ...


#: The optional capabilities, by protocol name (``ReplyQueues``: the reply-queue half of
#: :class:`Broadcast`, whose error has always been worded apart from fanout's).
Capability = Literal[
    "Admin",
    "DeadLetters",
    "Broadcast",
    "ReplyQueues",
    "LockStore",
    "RateStore",
    "BlockingRenewal",
    "ResultSettling",
    "BatchPublish",
    "RawPublish",
]

#: What each optional capability's absence means, as the error says it.
_MISSING: dict[Capability, str] = {
    "Admin": "has no queue administration",
    "DeadLetters": "cannot requeue or discard dead letters",
    "Broadcast": "does not support broadcast",
    "ReplyQueues": "does not support reply queues",
    "LockStore": "has no leader lock: run a single beat against this broker",
    "RateStore": "has no cluster-wide rate limits",
    "BlockingRenewal": "cannot renew leases synchronously",
    "ResultSettling": "cannot settle together with results",
    "BatchPublish": "cannot publish in batches",
    "RawPublish": "cannot store raw bytes",
}


def unsupported(transport: object, capability: Capability) -> NotImplementedError:
    """The error for a transport that lacks ``capability`` (raise it)."""
    return NotImplementedError(f"{type(transport).__name__} {_MISSING[capability]}")


@runtime_checkable
class ExchangeRouting(Protocol):
    """The broker routes by exchange and routing key itself (AMQP).

    For other brokers the app resolves a message sent to an exchange into the queues whose
    bindings match and calls ``publish`` once per queue; a transport with this capability
    gets the exchange and routing key instead (also in the message's ``delivery_info``).
    ``publish(message, queue)`` still means "store on ``queue``" (the default exchange).
    """

    def publish_to_exchange(
        self,
        message: Message,
        exchange: str,
        routing_key: str,
        *,
        priority: int = 0,
        eta: float | None = None,
    ) -> None:
        """Send ``message`` to ``exchange`` with ``routing_key`` (sync; any thread)."""
        ...

    async def apublish_to_exchange(
        self,
        message: Message,
        exchange: str,
        routing_key: str,
        *,
        priority: int = 0,
        eta: float | None = None,
    ) -> None:
        """Async twin of :meth:`publish_to_exchange`."""
        ...


@runtime_checkable
class DeclareQueues(Protocol):
    """The broker keeps exchanges, queues and bindings of its own, declared from the app's
    :class:`~celeriac.config.entities.Queue` objects (kombu's attribute names)."""

    def declare_queues(self, queues: Sequence[Queue]) -> None:
        """Declare ``queues``, their exchanges and bindings (idempotent; sync)."""
        ...
