"""Held deliveries: the messages a consumer has leased and not settled, and the one way to let go.

A delivery is *held* from the moment it is fetched until it is settled: acked, requeued,
dead-lettered or handed back to the broker to wait for its ETA. While held, its lease is
renewed; at shutdown whatever is still held goes back to its queue uncounted.

Letting go is always the same three steps: forget the tag, mark the job settled, hand
the message (and its result, if any) to the :class:`~celeriac.worker.settler.Settler`.
:meth:`HeldDeliveries.settle` is the only place they are written; the finisher, the
early ack of ``acks_late=False`` and the requeue of a cancelled job all call it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from celeriac.transports.base import Delivery, Transport
from celeriac.worker.held_budget import HeldBudget
from celeriac.worker.job import Job
from celeriac.worker.settler import Settler

__all__ = ["HeldDeliveries", "ResultMeta", "SettleAction"]

logger = logging.getLogger("celery.worker.consumer")


class SettleAction(StrEnum):
    """What to do with a finished task's message (the values are the settler's actions).

    ACK removes it; REQUEUE puts it back, counted as a delivery; DEAD_LETTER parks it
    with a reason; NONE leaves the message alone (it was settled already, or the parent
    of a lost prefork child leaves it to ``recover``).
    """

    ACK = "ack"
    REQUEUE = "requeue"
    DEAD_LETTER = "dead_letter"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ResultMeta:
    """One state to store: the task id and its Celery-shaped meta (``status``, ``result`` …)."""

    task_id: str
    meta: dict[str, object]

    def pair(self) -> tuple[str, dict[str, object]]:
        """``(task_id, meta)``, the shape backends and the settler take."""
        return self.task_id, self.meta


class HeldDeliveries:
    """The held deliveries of one consumer, by tag, and how each one is let go.

    Args:
        transport: dead letters are written through it.
        settler: acks, requeues and result writes go through it.
        background: the consumer's set of running jobs; dead-letter writes join it, so
            a warm shutdown (and burst mode) waits for them.
        budget: the byte budget of held bodies (``worker_max_held_bytes``); unbounded
            when not given.
    """

    def __init__(
        self,
        transport: Transport,
        settler: Settler,
        background: set[asyncio.Task[None]],
        budget: HeldBudget | None = None,
    ) -> None:
        self.transport = transport
        self.settler = settler
        self.budget = budget if budget is not None else HeldBudget()
        self._by_tag: dict[str, Delivery] = {}
        self._background = background
        #: the last dead-letter write: the next one waits for it (see dead_letter)
        self._last_dead_letter: asyncio.Task[None] | None = None

    # -- the set -----------------------------------------------------------------------
    def hold(self, delivery: Delivery) -> None:
        """A delivery was fetched: renew its lease until it is let go."""
        previous = self._by_tag.get(delivery.tag)
        if previous is not None:
            self.budget.remove(previous)
        self._by_tag[delivery.tag] = delivery
        self.budget.add(delivery)

    def forget(self, delivery: Delivery) -> None:
        """Stop holding ``delivery`` (someone else settles it, or it was handed back)."""
        held = self._by_tag.pop(delivery.tag, None)
        if held is not None:
            self.budget.remove(held)

    def __len__(self) -> int:
        return len(self._by_tag)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(list(self._by_tag.values()))

    async def give_back(self) -> None:
        """Shutdown: return every message still held to its queue, uncounted (it did not
        run, or ran no further than a cold shutdown allowed)."""
        leftovers = list(self._by_tag.values())
        self._by_tag.clear()
        self.budget.clear()
        if not leftovers:
            return
        logger.info("Returning %d unacknowledged messages to the queue", len(leftovers))
        try:
            await self.transport.requeue(leftovers, count=False)
        except Exception as exc:
            logger.error(
                "Returning messages failed (%r); they come back after the visibility timeout",
                exc,
            )

    # -- letting go --------------------------------------------------------------------
    def settle(
        self, job: Job, meta: ResultMeta | None = None, action: SettleAction = SettleAction.ACK
    ) -> None:
        """Let ``job``'s message go with ``action``, storing ``meta`` first (if any).

        A job settled before (acked early with ``acks_late=False``) only stores ``meta``.
        """
        self.forget(job.delivery)
        if job.settled:
            if meta is not None:
                self.settler.store(*meta.pair())
            return
        job.settled = True
        if action is SettleAction.DEAD_LETTER:
            raise ValueError("dead letters need a reason: use HeldDeliveries.dead_letter")
        self.settler.add(job.delivery, meta.pair() if meta is not None else None, action.value)

    def handed_back(self, job: Job) -> None:
        """The broker took ``job``'s message back (to wait for its ETA there)."""
        self.forget(job.delivery)
        job.settled = True

    def store(self, meta: ResultMeta) -> None:
        """Queue a state to store, settling no message."""
        self.settler.store(*meta.pair())

    async def store_now(self, meta: ResultMeta) -> None:
        """Store a state and wait until it was written."""
        await self.settler.store_now(*meta.pair())

    @property
    def stores_results(self) -> bool:
        """The backend keeps results (False for the disabled backend)."""
        return self.settler.backend.stores_results

    def reject(self, delivery: Delivery, reason: str) -> None:
        """Park a message that cannot run in the dead-letter store, with one log line."""
        self.forget(delivery)
        task_id = delivery.message.headers.get("id") if delivery.message else None
        logger.error(
            "Dead-lettered message %s from queue %r: %s",
            task_id or delivery.tag,
            delivery.queue,
            reason,
        )
        self.dead_letter(delivery, reason)

    def dead_letter_job(self, job: Job, reason: str) -> asyncio.Task[None] | None:
        """Dead-letter ``job``'s message unless it was settled already; returns the write."""
        self.forget(job.delivery)
        if job.settled:
            return None
        job.settled = True
        return self.dead_letter(job.delivery, reason)

    def dead_letter(self, delivery: Delivery, reason: str) -> asyncio.Task[None]:
        """Write one dead letter after the ones before it, so the store lists them in the
        order this worker rejected (and logged) them: writes issued at once may finish in
        any order (on Redis each takes a pooled connection of its own)."""
        previous = self._last_dead_letter

        async def write() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])  # a failed write does not stop this one
            await self.transport.dead_letter(delivery, reason)

        dead = asyncio.get_running_loop().create_task(write())
        self._last_dead_letter = dead
        self._background.add(dead)
        dead.add_done_callback(self._background.discard)
        return dead
