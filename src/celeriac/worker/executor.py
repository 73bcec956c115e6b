"""The executor: runs one job's body under its time limits and always returns an Outcome.

Sync bodies run on a :class:`~celeriac.pools.runner.SyncRunner` thread (or, once proven
short, inline on the loop thread of a prefork child); ``async def`` bodies run on the
loop. The body's own ending (success, exception, retry, ignore, reject) is classified
by :mod:`celeriac.app.trace`; a time limit the worker enforces is a TIME_LIMIT outcome,
and a failure of the worker's own steps an INTERNAL_ERROR one: nothing leaves the
executor as an exception.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app.trace import call_async, call_sync
from celeriac.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.pools.inline import InlineRunner
from celeriac.pools.reports import RunningTask, TaskReporter
from celeriac.pools.runner import SyncRunner
from celeriac.worker.held import HeldDeliveries, ResultMeta
from celeriac.worker.job import Job
from celeriac.worker.observer import Guarded

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Executor", "internal_error"]

logger = logging.getLogger("celery.worker.consumer")


def internal_error(exc: Exception) -> Outcome:
    """The outcome of a job whose worker-side steps raised ``exc``."""
    trace = "".join(traceback.format_exception(exc))
    return Outcome(OutcomeKind.INTERNAL_ERROR, exc=exc, traceback=trace)


class Executor:
    """Marks jobs started and runs their bodies.

    Args:
        app: the app.
        hostname: the worker's node name (the STARTED meta's ``hostname``).
        held: the consumer's held deliveries (STARTED is stored through them).
        runner: the threads running sync bodies.
        inline: runs proven-short sync bodies on the loop thread (prefork children).
        observer: told of each job started.
        reporter: a prefork child's link to its parent's slot table.
        on_hard_limit: called when a sync body outlived its hard limit and this process
            must end (prefork children: the thread cannot be stopped), else None and
            the thread is abandoned.
        totals: counts the tasks started, by name.
    """

    def __init__(
        self,
        app: Celery,
        hostname: str,
        held: HeldDeliveries,
        runner: SyncRunner,
        inline: InlineRunner | None,
        observer: Guarded,
        reporter: TaskReporter | None,
        on_hard_limit: Callable[[], None] | None,
        totals: dict[str, int],
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.held = held
        self.runner = runner
        self.inline = inline
        self.observer = observer
        self.reporter = reporter
        self.on_hard_limit = on_hard_limit
        #: tasks started, by name (``stats``' ``total``)
        self.totals = totals

    async def start(self, job: Job) -> None:
        """Mark a job started: STARTED (``track_started``), counters, the parent's table."""
        options = job.resolved(self.app.conf)
        if options.track_started:
            # Written before the body runs, so it never lands on top of the body's
            # own update_state() (e.g. PROGRESS).
            meta = self.app.result_meta(
                job.call.id,
                states.STARTED,
                {"pid": os.getpid(), "hostname": self.hostname},
                request=job.request,
            )
            await self.held.store_now(ResultMeta(job.call.id, meta))
        job.started = True
        job.time_start = time.time()
        self.totals[job.call.name] = self.totals.get(job.call.name, 0) + 1
        if self.reporter is not None:
            hard, _ = self.limits(job)
            self.reporter.started(
                RunningTask(
                    id=job.call.id,
                    name=job.call.name,
                    tag=job.delivery.tag,
                    queue=job.delivery.queue,
                    time=time.time(),
                    acks_late=options.acks_late,
                    reject_on_worker_lost=options.reject_on_worker_lost,
                    hard_limit=hard,
                    stamps=dict(job.request.stamps) if job.request.stamps else None,
                )
            )
        self.observer.started(job)

    def limits(self, job: Job) -> tuple[float | None, float | None]:
        """``(hard, soft)`` time limits in seconds; None (or 0 given) means no limit."""
        options = job.resolved(self.app.conf)
        hard, soft = options.time_limit, options.soft_time_limit
        return (float(hard) if hard else None), (float(soft) if soft else None)

    async def execute(self, job: Job) -> Outcome:
        """Run ``job``'s body; its outcome (never an exception)."""
        try:
            hard, soft = self.limits(job)
            if job.task.is_async:
                return await self._execute_async(job, hard, soft)
            return await self._execute_sync(job, hard, soft)
        except Exception as exc:  # the worker's own steps failed, not the body
            return internal_error(exc)

    async def _execute_sync(self, job: Job, hard: float | None, soft: float | None) -> Outcome:
        outcome: Outcome
        inline = self.inline
        if inline is not None and soft is None and inline.allows(job.task.name):
            outcome = inline.run(lambda: call_sync(job.task, job.request), [job.delivery])
            inline.record(job.task.name, outcome.runtime, inline=True)
            return outcome
        future = self.runner.submit(
            lambda: call_sync(job.task, job.request), label=job.label, soft_limit=soft
        )
        try:
            outcome = await (asyncio.wait_for(asyncio.shield(future), hard) if hard else future)
        except TimeoutError:
            return self._hard_limit_hit(job, future, hard or 0.0)
        if inline is not None:
            inline.record(job.task.name, outcome.runtime, inline=False)
        return outcome

    async def _execute_async(self, job: Job, hard: float | None, soft: float | None) -> Outcome:
        if not (hard or soft):
            # No limit: no timeout context either (it costs ~4 % of a no-op task's CPU).
            return await call_async(job.task, job.request)
        limit = min(x for x in (hard, soft) if x)
        try:
            async with asyncio.timeout(limit):
                return await call_async(job.task, job.request)
        except TimeoutError:
            is_soft = soft is not None and limit == soft and (hard is None or soft < hard)
            error: BaseException = (
                SoftTimeLimitExceeded(f"soft time limit ({soft}s) exceeded")
                if is_soft
                else TimeLimitExceeded(hard)
            )
            logger.error(
                "%s time limit (%ss) exceeded for %s: cancelled",
                "Soft" if is_soft else "Hard",
                limit,
                job.label,
            )
            trace = f"{type(error).__name__}: {error}\n"
            return Outcome(OutcomeKind.TIME_LIMIT, exc=error, traceback=trace, runtime=limit or 0)

    def _hard_limit_hit(self, job: Job, future: asyncio.Future[Any], hard: float) -> Outcome:
        logger.error("Hard time limit (%ss) exceeded for %s", hard, job.label)
        if self.on_hard_limit is not None:
            self.on_hard_limit()
        else:
            self.runner.abandon(future)
        trace = f"TimeLimitExceeded({hard})\n"
        return Outcome(
            OutcomeKind.TIME_LIMIT, exc=TimeLimitExceeded(hard), traceback=trace, runtime=hard
        )
