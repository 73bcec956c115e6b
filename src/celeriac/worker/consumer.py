"""Consumer: one process's asyncio loop that leases messages, runs tasks and settles them."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app.trace import Outcome, call_async, call_sync
from celeriac.exceptions import (
    ContentDisallowed,
    DecodeError,
    InvalidTaskError,
    NotRegistered,
    SoftTimeLimitExceeded,
    TaskRevokedError,
    TimeLimitExceeded,
)
from celeriac.pools.inline import InlineRunner
from celeriac.pools.runner import SyncRunner
from celeriac.protocol.task import TaskCall, decode_task_message
from celeriac.transports.base import Delivery, Transport
from celeriac.worker.job import Job, request_for
from celeriac.worker.outcomes import OutcomeHandler
from celeriac.worker.rate_limits import RateLimits
from celeriac.worker.revoked import RevokedSet
from celeriac.worker.settler import Settler

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Consumer", "ConsumerConfig"]

logger = logging.getLogger("celeriac.worker.consumer")
task_logger = logging.getLogger("celeriac.worker.strategy")

#: Exit code of a prefork child that stopped itself after a hard time limit.
EXIT_HARD_LIMIT = 3
#: An ETA further away than this (seconds) is parked in the broker when it can be.
DEFER_AFTER = 2.0
#: Most messages held waiting (ETA, rate limit) beyond the prefetch window.
_MAX_WAITING = 1000


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
        report: called with ``(event, payload)`` for the supervising parent.
        rate_share: how many processes share this worker's rate limits (a prefork
            child enforces ``rate / rate_share`` so the node keeps the configured rate).
        fetch_timeout: longest wait of one idle fetch, which is also how long a stop
            request can wait for the fetch loop to notice it.
        rate_updates: returns the run-time rate-limit changes (``{task: rate}``) when
            they changed since the last call, else None (see :class:`RateLimits`).
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
    report: Callable[[str, dict[str, Any]], None] | None = None
    rate_share: int = 1
    fetch_timeout: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    rate_updates: Callable[[], Mapping[str, Any] | None] | None = None


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


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
        self.accept = list(app.conf.accept_content or ["json"])
        self.processed = 0
        self.exit_code = 0
        #: burst mode found the queues empty (a prefork parent does not replace this child)
        self.drained = False
        self._held: dict[str, Delivery] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._waiting_jobs: dict[asyncio.Task[None], Job] = {}
        self._sync_inflight = 0
        self._async_inflight = 0
        self._waiting = 0
        self._room = asyncio.Event()
        self._stopping = False
        self._cold = False
        self.rate_limits = RateLimits(
            app, self.transport, share=config.rate_share, updates=config.rate_updates
        )
        self._has_async = any(task.is_async for task in app.tasks.values())
        self._async_arriving = self._has_async
        self._async_received = 0
        self._runner: SyncRunner | None = None
        self._settler: Settler | None = None
        self._outcomes: OutcomeHandler | None = None
        self._started = asyncio.Event()
        #: one per sync thread: a sync task starts (and is reported started) holding one
        self._sync_slots = asyncio.Semaphore(max(1, config.concurrency))
        self._inline: InlineRunner | None = None
        if config.inline_sync and config.concurrency == 1 and self.transport.renews_blocking:
            self._inline = InlineRunner(self.transport.renew_blocking, self._renew_period())
        #: revoked ids (remote control's ``revoke``; a prefork child's set follows the parent's)
        self.revoked = RevokedSet()
        #: jobs received and not finished, by delivery tag (remote control's inspection)
        self.live: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        #: tasks started, by name (``stats``' ``total``)
        self.totals: dict[str, int] = {}
        #: task ids being cancelled by ``revoke``: id -> "revoked" or "terminated"
        self._revoking: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------
    def stop(self, cold: bool = False) -> None:
        """Ask the consumer to stop: warm (finish running tasks) or cold (give them back)."""
        self._stopping = True
        self._cold = self._cold or cold
        self._room.set()

    async def wait_started(self) -> None:
        """Wait until the consumer is fetching."""
        await self._started.wait()

    async def run(self) -> int:
        """Consume until stopped; return the process exit code."""
        loop = asyncio.get_running_loop()
        await self.transport.open()
        self._settler = Settler(self.transport, self.backend)
        self._settler.start()
        self._outcomes = OutcomeHandler(self.app, self.transport, self._settler)
        self._runner = SyncRunner(loop, self.config.concurrency)
        self.app.middleware.on_worker_start(self)
        renewer = loop.create_task(self._renew_leases(), name="lease-renewal")
        try:
            await self._fetch_loop()
        finally:
            renewer.cancel()
            await self._shutdown()
            self.app.middleware.on_worker_stop(self)
        return self.exit_code

    def _window(self) -> int:
        """How many messages to fetch now (0: wait for room).

        Sync tasks get ``concurrency * prefetch_multiplier`` slots; async slots count only
        while async tasks are arriving, so a queue of sync tasks is not over-prefetched.
        While work is in flight the consumer waits until half the window is free, so
        each fetch (a write transaction on SQLite) leases a batch rather than one message.
        """
        if self._waiting >= _MAX_WAITING:
            return 0
        sync_cap = min(self.config.concurrency * max(1, self.config.prefetch_multiplier), 512)
        async_cap = self.config.async_slots if self._async_arriving else 0
        capacity = sync_cap + async_cap
        inflight = self._sync_inflight + self._async_inflight
        free = max(0, sync_cap - self._sync_inflight) + max(0, async_cap - self._async_inflight)
        if inflight and free < (capacity + 1) // 2:
            return 0
        return free

    async def _fetch_loop(self) -> None:
        self._started.set()
        failures = 0
        while not self._stopping:
            window = self._window()
            if window <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                deliveries = await self.transport.fetch(
                    self.config.queues, window, self.config.fetch_timeout
                )
            except Exception as exc:  # e.g. a broker refusing writes: keep the worker alive
                failures += 1
                pause = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                logger.error(
                    "Fetching from %s failed (%r); retrying in %.1fs",
                    self.config.queues,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                continue
            if failures:
                logger.warning("Fetching from %s works again", self.config.queues)
                failures = 0
            if not deliveries:
                if self.config.burst and not self._jobs:
                    self.drained = True
                    break
                continue
            before = self._async_received
            for delivery in deliveries:
                self._receive(delivery)
            if self._has_async:
                self._async_arriving = self._async_received > before
            await asyncio.sleep(0)

    async def _shutdown(self) -> None:
        # Tasks still waiting for an ETA, a rate-limit slot or a free thread go back to
        # the queue uncounted; running ones finish (warm) or are given back (cold).
        for task in list(self._waiting_jobs):
            task.cancel()
        running = list(self._jobs)
        if self._cold:
            for task in running:
                task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if self._outcomes is not None:  # chord reports still settling in the background
            await self._outcomes.drain()
        leftovers = list(self._held.values())
        self._held.clear()
        if leftovers:
            logger.info("Returning %d unacknowledged messages to the queue", len(leftovers))
            try:
                await self.transport.requeue(leftovers, count=False)
            except Exception as exc:
                logger.error(
                    "Returning messages failed (%r); they come back after the visibility timeout",
                    exc,
                )
        if self._settler is not None:
            await self._settler.close()
        if self._runner is not None:
            self._runner.shutdown(wait=not self._cold and self.exit_code != EXIT_HARD_LIMIT)
        if self._inline is not None:
            self._inline.close()
        await self.transport.aclose()

    def _renew_period(self) -> float:
        return max(0.5, min(self.transport.options.visibility_timeout / 3, 60.0))

    async def _renew_leases(self) -> None:
        period = self._renew_period()
        while True:
            await asyncio.sleep(period)
            if self._held:
                try:
                    await self.transport.renew(list(self._held.values()))
                except Exception as exc:
                    logger.warning("Renewing %d leases failed: %r", len(self._held), exc)

    # -- receiving -----------------------------------------------------------------
    def _receive(self, delivery: Delivery) -> None:
        self._held[delivery.tag] = delivery
        job = self._decode(delivery)
        if job is None:
            return
        if job.call.id in self.revoked:
            self._discard_revoked(job)
            return
        task_logger.info("Task %s received", job.label)
        self.app.middleware.on_receive(job.task, job.request)
        if job.task.is_async:
            self._async_inflight += 1
            self._async_received += 1
        else:
            self._sync_inflight += 1
        runner = asyncio.get_running_loop().create_task(self._process(job))
        self._jobs.add(runner)
        runner.add_done_callback(self._jobs.discard)
        self._track(job, runner)

    def _decode(self, delivery: Delivery) -> Job | None:
        if delivery.message is None:
            reason = f"undecodable message: {delivery.error}"
            self._reject(delivery, reason)
            self.app.middleware.on_rejected(None, reason, None)
            return None
        try:
            call = decode_task_message(delivery.message, accept=self.accept)
        except (ContentDisallowed, DecodeError, InvalidTaskError) as exc:
            kind = (
                "content type not accepted"
                if isinstance(exc, ContentDisallowed)
                else "invalid task message"
            )
            self._reject(delivery, f"{kind}: {exc}")
            self.app.middleware.on_rejected(delivery.message, f"{kind}: {exc}", exc)
            return None
        task = self.app.tasks.get(call.name)
        if task is None:
            self._unknown_task(delivery, call)
            return None
        request = request_for(call, delivery, self.config.hostname)
        return Job(delivery, call, task, request)

    def _reject(self, delivery: Delivery, reason: str) -> None:
        """Park a message that cannot run in the dead-letter store, with one log line."""
        self._held.pop(delivery.tag, None)
        task_id = delivery.message.headers.get("id") if delivery.message else None
        logger.error(
            "Dead-lettered message %s from queue %r: %s",
            task_id or delivery.tag,
            delivery.queue,
            reason,
        )
        loop = asyncio.get_running_loop()
        dead = loop.create_task(self.transport.dead_letter(delivery, reason))
        self._jobs.add(dead)
        dead.add_done_callback(self._jobs.discard)

    def _unknown_task(self, delivery: Delivery, call: TaskCall) -> None:
        self._reject(delivery, f"unknown task {call.name!r} (not registered in this worker)")
        error = NotRegistered(call.name)
        if self._settler is not None and self.backend.stores_results:
            meta = self.app.result_meta(call.id, states.FAILURE, error)
            self._settler.store(call.id, meta)
        if delivery.message is not None:
            self.app.middleware.on_unknown_task(call.name, call.id, delivery.message, error)

    # -- running -----------------------------------------------------------------
    def set_rate_limit(self, task_name: str, rate: str | float | None) -> None:
        """Change a task's rate limit in this process from its next call on.

        ``rate`` as in ``rate_limit`` (``'10/s'``); ``None`` or ``0`` removes the limit.

        Raises:
            ValueError: ``rate`` is not a rate.
        """
        self.rate_limits.set_rate_limit(task_name, rate)

    async def _deferred(self, job: Job) -> bool:
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
            self._held.pop(job.delivery.tag, None)
            job.settled = True
            task_logger.info("Task %s deferred until its ETA %s", job.label, eta.isoformat())
        return parked

    async def _wait_until_due(self, job: Job) -> None:
        """Hold a task until its ETA and its rate-limit slot, outside the prefetch window."""
        eta = job.call.eta
        delay = (eta - datetime.now(UTC)).total_seconds() if eta is not None else 0.0
        limited = self.rate_limits.limited(job.task)
        if delay <= 0 and not limited:
            return
        self._leave_window(job)
        self._waiting += 1
        current = asyncio.current_task()
        if current is not None:
            self._waiting_jobs[current] = job
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if limited:
                await self.rate_limits.acquire(job.task)
        finally:
            self._waiting -= 1
            if current is not None:
                self._waiting_jobs.pop(current, None)
            self._enter_window(job)

    def _leave_window(self, job: Job) -> None:
        if job.task.is_async:
            self._async_inflight -= 1
        else:
            self._sync_inflight -= 1
        self._room.set()

    def _enter_window(self, job: Job) -> None:
        if job.task.is_async:
            self._async_inflight += 1
        else:
            self._sync_inflight += 1

    def _expired(self, job: Job) -> bool:
        expires = job.call.expires
        return expires is not None and expires <= datetime.now(UTC)

    async def _process(self, job: Job) -> None:
        assert self._settler is not None and self._outcomes is not None
        slot = False
        try:
            if self._discarded(job) or await self._deferred(job):
                return
            await self._wait_until_due(job)
            if not job.task.is_async:
                slot = await self._take_sync_slot(job)
                if not slot:
                    return  # stopping: still held, so _shutdown gives it back uncounted
            if self._discarded(job):
                return
            if not job.task.resolve_acks_late():
                job.settled = True
                self._held.pop(job.delivery.tag, None)
                self._settler.add(job.delivery, None, "ack")
            await self._start(job)
            outcome = await self._execute(job)
            if slot:  # the thread is free: the next task starts while this one settles
                self._sync_slots.release()
                slot = False
            self._held.pop(job.delivery.tag, None)
            await self._outcomes.handle(job, outcome)
            self._report("finished", job)
        except asyncio.CancelledError:
            if self._cancelled_by_revoke(job):
                return
            # Not started: it stays held and _shutdown requeues it uncounted.
            if job.started and not job.settled:
                self._held.pop(job.delivery.tag, None)
                job.settled = True
                self._settler.add(job.delivery, None, "requeue")
            raise
        except Exception as exc:  # the worker's own steps failed (e.g. a bad rate_limit)
            self._worker_error(job, exc)
        finally:
            if slot:
                self._sync_slots.release()
            self._leave_window(job)
            self.processed += 1
            self._after_task()

    async def _start(self, job: Job) -> None:
        """Mark a job started: STARTED (``track_started``), counters, the parent's table."""
        assert self._settler is not None
        if job.task.track_started or (
            job.task.track_started is None and self.app.conf.task_track_started
        ):
            # Written before the body runs, so it never lands on top of the body's
            # own update_state() (e.g. PROGRESS).
            await self._settler.store_now(
                job.call.id,
                self.app.result_meta(
                    job.call.id,
                    states.STARTED,
                    {"pid": os.getpid(), "hostname": self.config.hostname},
                    request=job.request,
                ),
            )
        job.started = True
        job.time_start = time.time()
        self.totals[job.call.name] = self.totals.get(job.call.name, 0) + 1
        self._report("started", job)

    def _worker_error(self, job: Job, exc: Exception) -> None:
        """Fail a task the worker could not handle: store FAILURE, park its message.

        Without this the message would stay leased (and renewed) forever, its result
        never written.
        """
        assert self._settler is not None
        logger.error("Task %s failed inside the worker: %r", job.label, exc, exc_info=exc)
        trace = "".join(traceback.format_exception(exc))
        self.app.middleware.on_internal_error(job.task, job.request, exc, trace)
        self._settler.store(
            job.call.id,
            self.app.result_meta(
                job.call.id, states.FAILURE, exc, request=job.request, traceback=trace
            ),
        )
        if not job.settled:
            job.settled = True
            self._held.pop(job.delivery.tag, None)
            dead = asyncio.get_running_loop().create_task(
                self.transport.dead_letter(job.delivery, f"worker error: {exc!r}")
            )
            self._jobs.add(dead)
            dead.add_done_callback(self._jobs.discard)

    async def _take_sync_slot(self, job: Job) -> bool:
        """Wait for a free sync thread; until then the job is prefetched, not started.

        A waiting job is given back uncounted on shutdown, and is not reported to the
        parent as running, so a lost child only counts the task it was really running.
        Returns False (holding no slot) when the consumer is stopping: the job must not
        start then (max_tasks_per_child, warm shutdown).
        """
        if self._sync_slots.locked():
            current = asyncio.current_task()
            if current is not None:
                self._waiting_jobs[current] = job
            try:
                await self._sync_slots.acquire()
            finally:
                if current is not None:
                    self._waiting_jobs.pop(current, None)
        else:
            await self._sync_slots.acquire()
        if self._stopping:
            self._sync_slots.release()
            return False
        return True

    def _revoke_expired(self, job: Job) -> None:
        assert self._settler is not None
        task_logger.info("Discarding task %s: expired", job.label)
        self.app.middleware.on_revoked(job.task, job.request, "expired")
        self._held.pop(job.delivery.tag, None)
        meta = self.app.result_meta(
            job.call.id, states.REVOKED, TaskRevokedError("expired"), request=job.request
        )
        job.settled = True
        self._settler.add(job.delivery, (job.call.id, meta))
        if job.call.chord and self._outcomes is not None:  # a revoked part fails its chord
            self._outcomes.report_revoked(job, TaskRevokedError("expired"))

    def _limits(self, job: Job) -> tuple[float | None, float | None]:
        conf = self.app.conf
        hard = job.call.time_limit or job.task.time_limit or conf.task_time_limit
        soft = job.call.soft_time_limit or job.task.soft_time_limit or conf.task_soft_time_limit
        return (float(hard) if hard else None), (float(soft) if soft else None)

    async def _execute(self, job: Job) -> Outcome:
        hard, soft = self._limits(job)
        if job.task.is_async:
            return await self._execute_async(job, hard, soft)
        outcome: Outcome
        inline = self._inline
        if inline is not None and soft is None and inline.allows(job.task.name):
            outcome = inline.run(lambda: call_sync(job.task, job.request), [job.delivery])
            inline.record(job.task.name, outcome.runtime, inline=True)
            return outcome
        assert self._runner is not None
        future = self._runner.submit(
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
        limit = min(x for x in (hard, soft) if x) if (hard or soft) else None
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
            self.app.middleware.on_aborted(job.task, job.request, error, trace)
            return Outcome(states.FAILURE, exc=error, traceback=trace, runtime=limit or 0)

    def _hard_limit_hit(self, job: Job, future: asyncio.Future[Any], hard: float) -> Outcome:
        assert self._runner is not None
        logger.error("Hard time limit (%ss) exceeded for %s", hard, job.label)
        error = TimeLimitExceeded(hard)
        if self.config.hard_limit_exits:
            self.exit_code = EXIT_HARD_LIMIT
            self.stop(cold=False)
        else:
            self._runner.abandon(future)
        trace = f"TimeLimitExceeded({hard})\n"
        self.app.middleware.on_aborted(job.task, job.request, error, trace)
        return Outcome(states.FAILURE, exc=error, traceback=trace, runtime=hard)

    def _after_task(self) -> None:
        self._room.set()
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

    def _report(self, event: str, job: Job) -> None:
        if self.config.report is None:
            return
        if event == "finished":
            self.config.report(event, {"id": job.call.id})
        else:
            self.config.report(
                event,
                {
                    "id": job.call.id,
                    "name": job.call.name,
                    "tag": job.delivery.tag,
                    "queue": job.delivery.queue,
                    "time": time.time(),
                    "reject_on_worker_lost": self._reject_on_lost(job),
                    "acks_late": job.task.resolve_acks_late(),
                    "hard_limit": self._limits(job)[0],
                },
            )

    def _reject_on_lost(self, job: Job) -> bool:
        value = job.task.reject_on_worker_lost
        if value is None:
            value = self.app.conf.task_reject_on_worker_lost
        return bool(value)

    # -- revokes and inspection (remote control) ---------------------------------------
    def _track(self, job: Job, runner: asyncio.Task[None]) -> None:
        tag = job.delivery.tag
        self.live[tag] = (job, runner)
        runner.add_done_callback(lambda _: self.live.pop(tag, None))

    def _discarded(self, job: Job) -> bool:
        """Right before running: drop a task revoked or expired meanwhile (stores REVOKED)."""
        if job.call.id in self.revoked:
            self._discard_revoked(job)
            return True
        if self._expired(job):
            self._revoke_expired(job)
            return True
        return False

    def _discard_revoked(self, job: Job, reason: str = "revoked") -> None:
        """Never run a revoked task: store REVOKED and ack its message (not dead-lettered)."""
        assert self._settler is not None
        task_logger.info("Discarding revoked task: %s", job.label)
        self.app.middleware.on_revoked(job.task, job.request, reason)
        self._held.pop(job.delivery.tag, None)
        meta = self.app.result_meta(
            job.call.id, states.REVOKED, TaskRevokedError(reason), request=job.request
        )
        job.settled = True
        self._settler.add(job.delivery, (job.call.id, meta))
        if job.call.chord and self._outcomes is not None:  # a revoked part fails its chord
            self._outcomes.report_revoked(job, TaskRevokedError(reason))

    def _cancelled_by_revoke(self, job: Job) -> bool:
        reason = self._revoking.pop(job.call.id, None)
        if reason is None or self._settler is None:
            return False
        if job.started:
            task_logger.warning("Task %s terminated (cancelled) by revoke", job.label)
            self._report("finished", job)
        if not job.settled:
            self._discard_revoked(job, reason)
            return True
        # Already acked (acks_late=False): only the state is left to write.
        self.app.middleware.on_revoked(job.task, job.request, reason)
        meta = self.app.result_meta(
            job.call.id, states.REVOKED, TaskRevokedError(reason), request=job.request
        )
        self._settler.store(job.call.id, meta)
        return True

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
