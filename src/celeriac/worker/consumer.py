"""Consumer: one process's asyncio loop, driving each message through the worker pipeline.

The path of one task (docs/architecture.md draws it)::

    Fetcher ─► Intake ─► Scheduler ─► Executor ─► Finisher ─► HeldDeliveries ─► Settler
    (lease)    (decode,   (ETA, rate    (body,      (meta, hooks,  (forget, mark     (store,
               reject)    limit, slot)  limits)     follow-ups)    settled, hand)    then ack)

Each step is a module of its own (:mod:`~celeriac.worker.fetcher`,
:mod:`~celeriac.worker.intake`, :mod:`~celeriac.worker.scheduling`,
:mod:`~celeriac.worker.executor`, :mod:`~celeriac.worker.finisher`,
:mod:`~celeriac.worker.held`, :mod:`~celeriac.worker.settler`); this one builds them,
runs one coroutine per job through them (:meth:`Consumer._process`), and owns the
lifecycle: start, stop (warm or cold), shutdown, and remote control's revokes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celeriac.execution.outcome import Outcome
from celeriac.pools.inline import InlineRunner
from celeriac.pools.reports import TaskReporter
from celeriac.pools.runner import SyncRunner
from celeriac.transports.base import Delivery, Transport
from celeriac.transports.contracts import BlockingRenewal
from celeriac.worker.executor import Executor, internal_error
from celeriac.worker.fetcher import Fetcher, PrefetchWindow
from celeriac.worker.finisher import Finisher
from celeriac.worker.held import HeldDeliveries, SettleAction
from celeriac.worker.held_budget import HeldBudget
from celeriac.worker.intake import Intake
from celeriac.worker.job import Job
from celeriac.worker.observer import Guarded, Observers, PipelineObserver
from celeriac.worker.rate_limits import RateLimits
from celeriac.worker.revoked import RevokedSet
from celeriac.worker.scheduling import Admission, Scheduler, revoked_outcome
from celeriac.worker.settler import Settler
from celeriac.worker.state import StateObserver

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Consumer", "ConsumerConfig"]

logger = logging.getLogger("celery.worker.consumer")

#: Exit code of a prefork child that stopped itself after a hard time limit.
EXIT_HARD_LIMIT = 3


@dataclass(slots=True)
class ConsumerConfig:
    """How one consumer runs.

    Attributes:
        queues: queues to consume, most important first.
        hostname: the worker's node name (``celery@host``).
        concurrency: threads running sync task bodies in this process.
        async_slots: ``async def`` tasks running at once on the loop.
        prefetch_multiplier: messages reserved per sync thread.
        max_tasks: stop after this many tasks (``max_tasks_per_child``).
        max_memory_kb: stop after a task leaves resident memory above this.
        burst: stop once the queues are empty and nothing runs (tests).
        inline_sync: run proven-short sync bodies on the loop thread (see
            :class:`InlineRunner`); only where another process enforces hard time limits
            (prefork children) and the transport can renew leases from a thread.
        hard_limit_exits: a hard time limit ends this process (prefork children).
        report: a prefork child's link to its parent: which tasks it is running.
        rate_share: how many processes share this worker's rate limits (a prefork
            child enforces ``rate / rate_share`` so the node keeps the configured rate).
        fetch_timeout: longest wait of one idle fetch, which is also how long a stop
            request can wait for the fetch loop to notice it.
        rate_updates: returns the run-time rate-limit changes (``{task: rate}``) when
            they changed since the last call, else None (see :class:`RateLimits`).
        observer: told of each task received, started and finished (task events).
    """

    queues: list[str]
    hostname: str
    concurrency: int = 1
    async_slots: int = 100
    prefetch_multiplier: int = 4
    max_tasks: int | None = None
    max_memory_kb: int | None = None
    burst: bool = False
    hard_limit_exits: bool = False
    inline_sync: bool = False
    report: TaskReporter | None = None
    rate_share: int = 1
    fetch_timeout: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    rate_updates: Callable[[], Mapping[str, Any] | None] | None = None
    observer: PipelineObserver | None = None


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


@dataclass(slots=True)
class _Pipeline:
    """The steps of one running consumer (built once its transport is open)."""

    held: HeldDeliveries
    intake: Intake
    scheduler: Scheduler
    executor: Executor
    finisher: Finisher
    fetcher: Fetcher


class Consumer:
    """Leases messages in batches, runs them, stores results and acks: one per process.

    ``async def`` tasks run on this loop (up to ``async_slots`` at once); sync tasks
    run on :class:`SyncRunner` threads so the loop stays free to renew leases.
    """

    def __init__(
        self, app: Celery, config: ConsumerConfig, transport: Transport | None = None
    ) -> None:
        self.app = app
        self.config = config
        self.transport = transport or app.new_transport()
        self.backend = app.backend
        self.processed = 0
        self.exit_code = 0
        #: burst mode found the queues empty (a prefork parent does not replace this child)
        self.drained = False
        #: one coroutine per job in the pipeline (and the dead-letter writes)
        self._jobs: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._cold = False
        self.rate_limits = RateLimits(
            app, self.transport, share=config.rate_share, updates=config.rate_updates
        )
        self.window = PrefetchWindow(
            config.concurrency,
            config.prefetch_multiplier,
            config.async_slots,
            has_async=any(task.is_async for task in app.tasks.values()),
        )
        #: the worker state's observer (``celeriac.worker.state``), then the configured one
        self._observers = Observers([StateObserver(), config.observer])
        self._observer = Guarded(self._observers)
        self._runner: SyncRunner | None = None
        self._settler: Settler | None = None
        self._steps: _Pipeline | None = None
        self._started = asyncio.Event()
        self._inline: InlineRunner | None = None
        if (
            config.inline_sync
            and config.concurrency == 1
            and isinstance(self.transport, BlockingRenewal)
        ):
            self._inline = InlineRunner(self.transport.renew_blocking, self._renew_period())
        #: revoked ids (remote control's ``revoke``; a prefork child's set follows the parent's)
        self.revoked = RevokedSet()
        #: jobs received and not finished, by delivery tag (remote control's inspection)
        self.live: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        #: tasks started, by name (``stats``' ``total``)
        self.totals: dict[str, int] = {}
        #: task ids being cancelled by ``revoke``: id -> "revoked" or "terminated"
        self._revoking: dict[str, str] = {}
        #: awaited before the transport closes (the mailbox that shares it stops first)
        self.before_close: Callable[[], Awaitable[None]] | None = None

    # -- lifecycle ---------------------------------------------------------------
    def stop(self, cold: bool = False) -> None:
        """Ask the consumer to stop: warm (finish running tasks) or cold (give them back)."""
        self._stopping = True
        self._cold = self._cold or cold
        self.window.room.set()

    async def wait_started(self) -> None:
        """Wait until the consumer is fetching."""
        await self._started.wait()

    async def run(self) -> int:
        """Consume until stopped; return the process exit code."""
        loop = asyncio.get_running_loop()
        await self.transport.open()
        self._settler = Settler(self.transport, self.backend)
        self._settler.start()
        self._runner = SyncRunner(loop, self.config.concurrency)
        steps = self._steps = self._build(self._settler, self._runner)
        self._observer.opened(self.config.hostname)
        self.app.middleware.on_worker_start(self)
        renewer = loop.create_task(
            steps.fetcher.renew_leases(steps.held, self._renew_period()), name="lease-renewal"
        )
        try:
            self._started.set()
            self.drained = await steps.fetcher.run(self._drained)
        finally:
            renewer.cancel()
            await self._shutdown(steps)
            self.app.middleware.on_worker_stop(self)
        return self.exit_code

    def _build(self, settler: Settler, runner: SyncRunner) -> _Pipeline:
        config = self.config
        budget = HeldBudget(int(self.app.conf.worker_max_held_bytes or 0), self.window.room.set)
        self.window.over_budget = lambda: budget.full
        held = HeldDeliveries(self.transport, settler, self._jobs, budget)
        finisher = Finisher(
            self.app, config.hostname, held, observer=self._observers, reporter=config.report
        )
        revoked = self._revoked
        stopping = self._is_stopping
        return _Pipeline(
            held=held,
            intake=Intake(self.app, config.hostname, held, finisher, revoked, self._observer),
            scheduler=Scheduler(
                self.transport,
                held,
                self.window,
                self.rate_limits,
                config.concurrency,
                revoked,
                stopping,
            ),
            executor=Executor(
                self.app,
                config.hostname,
                held,
                runner,
                self._inline,
                self._observer,
                config.report,
                self._hard_limit_exit if config.hard_limit_exits else None,
                self.totals,
            ),
            finisher=finisher,
            fetcher=Fetcher(
                self.transport,
                config.queues,
                self.window,
                self._receive,
                stopping,
                config.fetch_timeout,
            ),
        )

    def _revoked(self) -> RevokedSet:
        return self.revoked

    def _is_stopping(self) -> bool:
        return self._stopping

    def _drained(self) -> bool:
        """Burst mode: the queues are empty and nothing runs."""
        return self.config.burst and not self._jobs

    def _hard_limit_exit(self) -> None:
        """A sync body outlived its hard limit in a prefork child: end the process."""
        self.exit_code = EXIT_HARD_LIMIT
        self.stop(cold=False)

    async def _shutdown(self, steps: _Pipeline) -> None:
        # Tasks still waiting for an ETA, a rate-limit slot or a free thread go back to
        # the queue uncounted; running ones finish (warm) or are given back (cold).
        for task in list(steps.scheduler.waiting):
            task.cancel()
        running = list(self._jobs)
        if self._cold:
            for task in running:
                task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        await steps.finisher.drain()  # chord reports still settling in the background
        await steps.held.give_back()
        await self._observer.closing(self.config.hostname)  # e.g. the last task events
        await self._close()

    async def _close(self) -> None:
        """Write what the settler holds, stop the threads, close the transport."""
        if self._settler is not None:
            await self._settler.close()
        if self._runner is not None:
            self._runner.shutdown(wait=not self._cold and self.exit_code != EXIT_HARD_LIMIT)
        if self._inline is not None:
            self._inline.close()
        if self.before_close is not None:
            try:
                await self.before_close()
            except Exception as exc:
                logger.debug("before_close failed: %r", exc)
        await self.transport.aclose()

    def _renew_period(self) -> float:
        return max(0.5, min(self.transport.options.visibility_timeout / 3, 60.0))

    # -- the pipeline --------------------------------------------------------------------
    def _receive(self, delivery: Delivery) -> None:
        """Intake, then one coroutine that takes the job through the other steps."""
        assert self._steps is not None
        job = self._steps.intake.take(delivery)
        if job is None:
            return
        self.window.received(job)
        runner = asyncio.get_running_loop().create_task(self._process(job))
        self._jobs.add(runner)
        runner.add_done_callback(self._jobs.discard)
        tag = job.delivery.tag
        self.live[tag] = (job, runner)
        runner.add_done_callback(lambda _: self.live.pop(tag, None))

    async def _process(self, job: Job) -> None:
        """Scheduler, executor, finisher: every way through ends in one Outcome, finished."""
        assert self._steps is not None
        steps = self._steps
        admission: Admission | None = None
        try:
            admission = await steps.scheduler.admit(job)
            if admission.parked:
                return
            ending = admission.ending or await self._run(job, admission)
            await steps.finisher.finish(job, ending)
        except asyncio.CancelledError:
            revoked = self._cancelled(job)
            if revoked is None:
                raise
            steps.finisher.finish_now(job, revoked)
        except Exception as exc:  # the worker's own steps failed (e.g. a bad rate_limit)
            steps.finisher.finish_now(job, internal_error(exc))
        finally:
            if admission is not None:
                admission.release()
            self.window.leave(job)
            self.processed += 1
            self._after_task()

    async def _run(self, job: Job, admission: Admission) -> Outcome:
        """Start the body (acking first unless ``acks_late``) and return its outcome."""
        assert self._steps is not None
        if not job.resolved(self.app.conf).acks_late:
            self._steps.held.settle(job)  # acked before the body runs
        await self._steps.executor.start(job)
        outcome = await self._steps.executor.execute(job)
        admission.release()  # the thread is free: the next task starts while this one settles
        return outcome

    def _cancelled(self, job: Job) -> Outcome | None:
        """A job's coroutine was cancelled: by ``revoke`` (its REVOKED outcome), or by a
        cold shutdown (None: a started job is requeued; one not started stays held, and
        _shutdown gives it back uncounted)."""
        reason = self._revoking.pop(job.call.id, None)
        if reason is not None:
            return revoked_outcome(reason)
        if job.started and not job.settled and self._steps is not None:
            self._steps.held.settle(job, None, SettleAction.REQUEUE)
        return None

    def _after_task(self) -> None:
        self.window.room.set()
        limit = self.config.max_tasks
        if limit and self.processed >= limit and not self._stopping:
            logger.info("Reached max_tasks_per_child (%d): restarting", limit)
            self.stop()
        cap = self.config.max_memory_kb
        if cap and not self._stopping:
            rss = _rss_kb()
            if rss > cap:
                logger.warning(
                    "Memory %d KiB above max_memory_per_child (%d KiB): restarting", rss, cap
                )
                self.stop()

    # -- remote control --------------------------------------------------------------------
    def set_rate_limit(self, task_name: str, rate: str | float | None) -> None:
        """Change a task's rate limit in this process from its next call on.

        ``rate`` as in ``rate_limit`` (``'10/s'``); ``None`` or ``0`` removes the limit.

        Raises:
            ValueError: ``rate`` is not a rate.
        """
        self.rate_limits.set_rate_limit(task_name, rate)

    def revoke(self, task_ids: list[str], terminate: bool = False) -> dict[str, str]:
        """Apply a revoke to the jobs this consumer holds (call on its loop).

        The ids must already be in :attr:`revoked`. Jobs not started yet (waiting for an
        ETA, a rate-limit slot or a thread) are discarded now. With ``terminate``, running
        ``async def`` tasks are cancelled; running sync tasks cannot be stopped in a
        thread and go on. Returns ``{task_id: "terminated" | "not terminable" | "revoked"}``
        for the ids it held.
        """
        wanted = set(task_ids)
        found: dict[str, str] = {}
        for job, runner in list(self.live.values()):
            task_id = job.call.id
            if task_id not in wanted or job.settled or runner.done():
                continue
            if not job.started:
                self._revoking[task_id] = "revoked"
                runner.cancel()
                found[task_id] = "revoked"
            elif not terminate:
                found[task_id] = "revoked"
            elif job.task.is_async:
                self._revoking[task_id] = "terminated"
                runner.cancel()
                found[task_id] = "terminated"
            else:
                found[task_id] = "not terminable"
        return found
