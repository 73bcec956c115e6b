"""Scheduling: when a received job may start (its ETA, a rate-limit slot, a free thread).

Before a job runs, :class:`Scheduler` hands a far-off ETA back to the broker, holds a
near one (and a rate-limited task) outside the prefetch window until it is due, waits
for a free sync thread, and checks again that the job was not revoked or did not
expire meanwhile: such a job ends here, with a REVOKED or EXPIRED outcome for the
finisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from celeriac.exceptions import TaskRevokedError
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.transports.base import Transport
from celeriac.transports.contracts import ChannelLeases
from celeriac.worker.fetcher import PrefetchWindow
from celeriac.worker.held import HeldDeliveries
from celeriac.worker.job import Job
from celeriac.worker.rate_limits import RateLimits
from celeriac.worker.revoked import RevokedSet

__all__ = ["Admission", "Scheduler", "revoked_outcome"]

logger = logging.getLogger("celery.worker.consumer")
task_logger = logging.getLogger("celery.worker.strategy")

#: An ETA further away than this (seconds) is parked in the broker when it can be.
DEFER_AFTER = 2.0


def revoked_outcome(reason: str = "revoked") -> Outcome:
    """The outcome of a task revoked (or terminated) before it could finish."""
    return Outcome(OutcomeKind.REVOKED, exc=TaskRevokedError(reason))


class Admission:
    """What scheduling decided for one job: run it now, end it now, or neither (parked).

    A sync job admitted to run holds one of the sync threads until :meth:`release`.

    Attributes:
        run: start the body now.
        ending: the job ended before it ran (REVOKED, EXPIRED).
    """

    __slots__ = ("_thread", "ending", "run")

    def __init__(
        self,
        *,
        run: bool = False,
        ending: Outcome | None = None,
        thread: asyncio.Semaphore | None = None,
    ) -> None:
        self.run = run
        self.ending = ending
        self._thread = thread

    @property
    def parked(self) -> bool:
        """Neither run nor ended here: the broker holds it until its ETA or took it back
        (a closed connection), or the consumer is stopping and gives it back uncounted."""
        return not self.run and self.ending is None

    def release(self) -> None:
        """Give the sync thread back (once; later calls do nothing)."""
        if self._thread is not None:
            self._thread.release()
            self._thread = None


class Scheduler:
    """Decides when each job may start.

    Args:
        transport: ETAs far off are parked there (``Transport.defer``).
        held: the consumer's held deliveries.
        window: the prefetch window a waiting job leaves.
        rate_limits: the rate-limit slots.
        concurrency: sync threads (a sync job starts holding one).
        revoked: the consumer's revoked ids (read at each check).
        stopping: True once the consumer was asked to stop.
    """

    def __init__(
        self,
        transport: Transport,
        held: HeldDeliveries,
        window: PrefetchWindow,
        rate_limits: RateLimits,
        concurrency: int,
        revoked: Callable[[], RevokedSet],
        stopping: Callable[[], bool],
    ) -> None:
        self.transport = transport
        self.held = held
        self.window = window
        self.rate_limits = rate_limits
        self.revoked = revoked
        self.stopping = stopping
        self._leases = transport if isinstance(transport, ChannelLeases) else None
        #: one per sync thread: a sync task starts (and is reported started) holding one
        self.sync_slots = asyncio.Semaphore(max(1, concurrency))
        #: jobs waiting for an ETA, a rate-limit slot or a thread (given back at shutdown)
        self.waiting: dict[asyncio.Task[None], Job] = {}

    async def admit(self, job: Job) -> Admission:
        """Wait until ``job`` may start; say whether it runs, ended, or is parked."""
        ending = self.discarded(job)
        if ending is not None:
            return Admission(ending=ending)
        if await self.deferred(job):
            return Admission()  # the broker holds it until its ETA
        await self.wait_until_due(job)
        thread = None
        if not job.task.is_async:
            if not await self.take_thread(job):
                return Admission()  # stopping: still held, so shutdown gives it back
            thread = self.sync_slots
        admission = Admission(run=True, thread=thread)
        try:
            if self.lease_lost(job):
                admission.release()
                return Admission()
            admission.ending = self.discarded(job)  # revoked or expired while it waited
        except BaseException:
            admission.release()
            raise
        admission.run = admission.ending is None
        return admission

    def lease_lost(self, job: Job) -> bool:
        """Right before running: True (and the job let go, unsettled) when the broker took
        its message back while it waited, because the connection that delivered it closed.

        The broker delivers that message again, here or on another worker; running this
        copy too would run the task twice (an ETA task held through a reconnection).
        Only transports whose leases die with their connection can tell (AMQP).
        """
        if self._leases is None or not self._leases.lease_lost(job.delivery):
            return False
        self.held.handed_back(job)
        logger.info(
            "Task %s: not running it here; its message went back to the broker while it "
            "waited (the connection that delivered it closed) and is delivered again",
            job.label,
        )
        return True

    def discarded(self, job: Job) -> Outcome | None:
        """Right before running: the REVOKED or EXPIRED outcome of a job that must not run."""
        if self.revoked().revoked(job.call.id, job.request.stamps):
            return revoked_outcome()
        expires = job.call.expires
        if expires is not None and expires <= datetime.now(UTC):
            return Outcome(OutcomeKind.EXPIRED, exc=TaskRevokedError("expired"))
        return None

    async def deferred(self, job: Job) -> bool:
        """Hand a task whose ETA is still far off back to the broker to wait there.

        DESIGN decision 4: ETA tasks wait in the broker, not in worker memory. Messages
        published by celeriac already wait there; this catches early ones from other
        producers (a Celery client puts countdown tasks straight on the queue).
        """
        eta = job.call.eta
        if eta is None:
            return False
        due = eta.timestamp()
        if due - time.time() < DEFER_AFTER:
            return False
        try:
            parked = await self.transport.defer(job.delivery, due)
        except Exception as exc:
            logger.warning(
                "Task %s: could not park it in the broker until its ETA (%r); holding it here",
                job.label,
                exc,
            )
            return False
        if parked:
            self.held.handed_back(job)
            task_logger.info("Task %s deferred until its ETA %s", job.label, eta.isoformat())
        return parked

    async def wait_until_due(self, job: Job) -> None:
        """Hold a task until its ETA and its rate-limit slot, outside the prefetch window."""
        eta = job.call.eta
        delay = (eta - datetime.now(UTC)).total_seconds() if eta is not None else 0.0
        limited = self.rate_limits.limited(job.task)
        if delay <= 0 and not limited:
            return
        self.window.leave(job)
        self.window.waiting += 1
        current = asyncio.current_task()
        if current is not None:
            self.waiting[current] = job
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if limited:
                await self.rate_limits.acquire(job.task)
        finally:
            self.window.waiting -= 1
            if current is not None:
                self.waiting.pop(current, None)
            self.window.enter(job)

    async def take_thread(self, job: Job) -> bool:
        """Wait for a free sync thread; until then the job is prefetched, not started.

        A waiting job is given back uncounted on shutdown, and is not reported to the
        parent as running, so a lost child only counts the task it was really running.
        Returns False (holding no slot) when the consumer is stopping: the job must not
        start then (max_tasks_per_child, warm shutdown).
        """
        if self.sync_slots.locked():
            current = asyncio.current_task()
            if current is not None:
                self.waiting[current] = job
            try:
                await self.sync_slots.acquire()
            finally:
                if current is not None:
                    self.waiting.pop(current, None)
        else:
            await self.sync_slots.acquire()
        if self.stopping():
            self.sync_slots.release()
            return False
        return True
