"""The finisher: the one place a task's end is handled, whatever the end was.

Every :class:`~celeriac.execution.outcome.Outcome` a task can end with (its body's
SUCCESS, FAILURE, RETRY, IGNORED, REJECTED; REVOKED and EXPIRED decided before it ran;
a TIME_LIMIT; an INTERNAL_ERROR of the worker's own steps; LOST with its process) comes
here, and only here is it turned into, in this order:

1. the result meta to store (``SUCCESS``/``FAILURE``/``RETRY``/``REVOKED``);
2. the middleware hooks the pipeline owes it (``on_revoked``, ``on_aborted``,
   ``on_internal_error``: the body's own hooks already ran in :mod:`celeriac.app.trace`);
3. the follow-up messages: callbacks, errbacks, chain steps and chord parts (written by
   :mod:`celeriac.canvas.workflow`), or the retry (:mod:`celeriac.app.publish`);
4. a :class:`~celeriac.worker.held.SettleAction` for its message, carried out by
   :class:`~celeriac.worker.held.HeldDeliveries` (result stored before the ack);
5. then the parent (prefork) and the observer (task events) are told, once per end
   (a RETRY's observer also hears ``retrying`` before the retry is published).

The prefork parent calls :meth:`Finisher.finish_lost` with the typed
:class:`~celeriac.pools.reports.RunningTask` of a child that died: the same table of
states, hooks and settle actions, without a message in hand (the parent acks).
"""

from __future__ import annotations

import asyncio
import logging
import traceback as tb
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING

from celeriac import states
from celeriac.app import publish
from celeriac.app.trace import LOG_SUCCESS, log_task
from celeriac.canvas import workflow
from celeriac.exceptions import BrokerError, Reject
from celeriac.execution.follow_up import follow_up
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context
from celeriac.pools.reports import RunningTask, TaskReporter
from celeriac.protocol.saferepr import saferepr
from celeriac.results.result import ResultTuple
from celeriac.worker.held import HeldDeliveries, ResultMeta, SettleAction
from celeriac.worker.job import Job
from celeriac.worker.observer import Guarded, PipelineObserver

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Finisher"]

logger = logging.getLogger("celery.worker.strategy")
#: the logger of a task's success line, as Celery's (``celery.app.trace``)
trace_logger = logging.getLogger("celery.app.trace")

_Handler = Callable[[Job, Outcome], Awaitable[None]]


class Finisher:
    """Turns an Outcome into result meta, hooks, follow-up messages and a settle action.

    Args:
        app: the app (meta, middleware, settings).
        hostname: the worker's node name.
        held: the consumer's held deliveries; None in the prefork parent, which only
            calls :meth:`finish_lost`.
        observer: told of every finished task (the seam for task events).
        reporter: a prefork child's link to its parent's slot table.
    """

    def __init__(
        self,
        app: Celery,
        hostname: str,
        held: HeldDeliveries | None = None,
        *,
        observer: PipelineObserver | None = None,
        reporter: TaskReporter | None = None,
    ) -> None:
        self.app = app
        self.hostname = hostname
        self._held_deliveries = held
        self.observer = Guarded(observer)
        self.reporter = reporter
        self.store_errors_even_if_ignored = bool(app.conf.task_store_errors_even_if_ignored)
        self.chords: workflow.ChordReporter | None = None
        if held is not None:
            settler = held.settler
            self.chords = workflow.ChordReporter(
                app, settler.store_now, settler.backend.stores_results
            )
        self._pending: set[asyncio.Task[None]] = set()
        #: endings decided without running anything: finished at once (see finish_now)
        self._now: dict[OutcomeKind, Callable[[Job, Outcome], None]] = {
            OutcomeKind.IGNORED: self._ignored,
            OutcomeKind.REVOKED: self._revoked,
            OutcomeKind.EXPIRED: self._revoked,
            OutcomeKind.INTERNAL_ERROR: self._internal_error,
        }
        #: endings with follow-ups or writes to wait for
        self._later: dict[OutcomeKind, _Handler] = {
            OutcomeKind.SUCCESS: self._success,
            OutcomeKind.FAILURE: self._failure,
            OutcomeKind.TIME_LIMIT: self._aborted,
            OutcomeKind.LOST: self._aborted,
            OutcomeKind.RETRY: self._retry,
            OutcomeKind.REJECTED: self._rejected,
        }

    @property
    def held(self) -> HeldDeliveries:
        """The consumer's held deliveries (a finisher in a consumer always has them)."""
        if self._held_deliveries is None:
            raise RuntimeError("this finisher settles no messages (a prefork parent's)")
        return self._held_deliveries

    # -- the entry points -------------------------------------------------------------------
    async def finish(self, job: Job, outcome: Outcome) -> None:
        """Record ``outcome`` for ``job``, send its follow-ups and settle its message.

        The message stops being held at once (its lease is no longer renewed): from
        here it is settled by this call, or by a chord report running on in the
        background (see :meth:`drain`).
        """
        if outcome.kind in self._now:
            self.finish_now(job, outcome)
            return
        self.held.forget(job.delivery)
        await self._later[outcome.kind](job, outcome)
        self._finished(job, outcome)

    def finish_now(self, job: Job, outcome: Outcome) -> None:
        """:meth:`finish` for the endings that wait for nothing (REVOKED, EXPIRED,
        IGNORED, INTERNAL_ERROR), callable outside a coroutine (intake discards a
        revoked message as it arrives).

        Raises:
            ValueError: ``outcome`` needs :meth:`finish`.
        """
        handler = self._now.get(outcome.kind)
        if handler is None:
            raise ValueError(f"a {outcome.kind} outcome is finished with Finisher.finish")
        self.held.forget(job.delivery)
        handler(job, outcome)
        self._finished(job, outcome)

    def _finished(self, job: Job, outcome: Outcome) -> None:
        if job.started and self.reporter is not None:
            self.reporter.finished(job.call.id)
        self.observer.finished(job, outcome)

    def finish_lost(self, task: RunningTask, outcome: Outcome, cause: str) -> SettleAction:
        """The prefork parent's part: a child died (``cause``) while running ``task``.

        ``outcome`` is REVOKED (``revoke(terminate=True)`` killed it), TIME_LIMIT (the
        parent killed it past its hard limit) or LOST. Stores the state and runs the
        hooks; returns ACK, or NONE when the message is to run again (``acks_late`` with
        ``reject_on_worker_lost``: the parent's ``recover`` requeues it).
        """
        label = f"{task.name}[{task.id}]"
        action = SettleAction.ACK
        registered = self.app.tasks.get(task.name)
        request = (
            Context(id=task.id, task=registered.name, hostname=self.hostname, called_directly=False)
            if registered is not None
            else None
        )
        if outcome.kind is OutcomeKind.REVOKED:
            logger.warning("Task %s terminated by revoke", label)
            self.app.store_state(task.id, states.REVOKED, outcome.exc)
            if registered is not None and request is not None:
                self.app.middleware.on_revoked(registered, request, "terminated")
        elif outcome.kind is OutcomeKind.LOST and task.acks_late and task.reject_on_worker_lost:
            logger.warning("Task %s will run again: worker process lost (%s)", label, cause)
            action = SettleAction.NONE
        else:
            logger.error("Task %s failed: %r", label, outcome.exc)
            self.app.store_state(task.id, states.FAILURE, outcome.exc)
            if registered is not None and request is not None and outcome.exc is not None:
                error = outcome.exc
                trace = f"{type(error).__name__}: {error}\n"
                self.app.middleware.on_aborted(registered, request, error, trace)
        self.observer.finished(task, outcome)
        return action

    async def drain(self) -> None:
        """Wait for background chord reports (and the settles after them) to finish."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- one handler per kind of outcome ------------------------------------------------------
    def _meta(
        self,
        job: Job,
        state: str,
        value: object,
        traceback: str | None = None,
        children: list[object] | None = None,
    ) -> ResultMeta:
        meta = self.app.result_meta(
            job.call.id, state, value, request=job.request, traceback=traceback, children=children
        )
        return ResultMeta(job.call.id, meta)

    async def _success(self, job: Job, outcome: Outcome) -> None:
        request = job.request
        log_task(
            trace_logger,
            logging.INFO,
            LOG_SUCCESS,
            lambda: {
                "id": job.call.id,
                "name": job.call.shadow or job.call.name,
                "return_value": saferepr(outcome.retval, job.task.resultrepr_maxsize),
                "runtime": outcome.runtime,
                "args": request.argsrepr or saferepr(request.args),
                "kwargs": request.kwargsrepr or saferepr(request.kwargs),
            },
        )
        children: list[ResultTuple] = []
        try:
            if request.chain:
                children += await workflow.acontinue_chain(self.app, request, outcome.retval)
            if request.callbacks:
                children += await workflow.asend_callbacks(self.app, request, outcome.retval)
        except BrokerError:
            self._follow_up_failed(job, "its next chain step or callbacks")
            return
        meta = None
        if not job.resolved(self.app.conf).ignore_result:
            meta = self._meta(job, states.SUCCESS, outcome.retval, children=list(children))
        if request.chord:
            # Report to the chord, then settle, in the background: the job leaves the
            # prefetch window now, and reports of jobs finishing together share one batch.
            # The message is acked only after its part was recorded.
            self._background(self._report_then_settle(job, outcome.retval, meta))
            return
        self.held.settle(job, meta)

    async def _aborted(self, job: Job, outcome: Outcome) -> None:
        """A time limit the worker enforced (or a lost process): ``on_aborted``, then FAILURE."""
        if outcome.exc is not None:
            trace = outcome.traceback or f"{type(outcome.exc).__name__}: {outcome.exc}\n"
            self.app.middleware.on_aborted(job.task, job.request, outcome.exc, trace)
        await self._failure(job, outcome)

    async def _failure(self, job: Job, outcome: Outcome) -> None:
        exc = outcome.exc
        logger.error(
            "Task %s raised unexpected: %r\n%s", job.label, exc, (outcome.traceback or "").rstrip()
        )
        request = job.request
        meta = None
        if not job.resolved(self.app.conf).ignore_result or self.store_errors_even_if_ignored:
            meta = self._meta(job, states.FAILURE, exc, outcome.traceback)
        if request.errbacks and exc is not None:
            if meta is not None:  # Celery stores the failure before it calls the errbacks
                await self.held.store_now(meta)
                meta = None
            try:
                await workflow.acall_errbacks(self.app, request, exc, outcome.traceback)
            except BrokerError:
                self._follow_up_failed(job, "its errbacks")
                return
        if request.chord:  # the result is stored before the part is counted, as on success
            if not await self._report_part(job, states.FAILURE, exc, meta):
                self._follow_up_failed(job, "its chord part")
                return
            meta = None
        if request.chain:
            await workflow.afail_chain(self.app, request, exc, self.held.settler.store)
        acked = job.task.acks_failed_run(
            self.app.conf, timeout=outcome.kind is OutcomeKind.TIME_LIMIT
        )
        action = SettleAction.ACK if acked else SettleAction.REQUEUE
        self.held.settle(job, meta, action)

    async def _retry(self, job: Job, outcome: Outcome) -> None:
        signal = outcome.retry
        assert signal is not None
        transport = self.held.transport
        message, resolved, queue = publish.retry_message(
            self.app, job.call, signal, job.task, job.delivery.queue
        )
        # RETRY is written before the retry is sent: written later, it could land after
        # (and hide) what the next run stores, e.g. its final FAILURE.
        if not job.resolved(self.app.conf).ignore_result or self.store_errors_even_if_ignored:
            meta = self._meta(job, states.RETRY, outcome.exc, outcome.traceback)
            await self.held.store_now(meta)
        # The observer hears of the retry before it is sent (task events: ``task-retried``
        # leaves first), so no monitor sees the next run before this one's end.
        await self.observer.retrying(job, outcome)
        try:
            with follow_up():
                await publish.asend_message(self.app, transport, message, queue, resolved)
        except Exception as exc:  # the retry could not be sent: keep the message
            logger.error("Task %s: sending its retry failed: %r", job.label, exc)
            self._follow_up_failed(job, "its retry")
            return
        logger.info("Task %s retry: %s", job.label, signal)
        self.held.settle(job)

    def _follow_up_failed(self, job: Job, what: str) -> None:
        """A follow-up could not be sent (the broker stayed down through the follow-up
        retry policy): requeue the message, so the task runs again and sends it then,
        rather than ack a task whose follow-ups are lost. Nothing is stored."""
        logger.error(
            "Task %s: sending %s failed; its message is requeued (the task runs again)",
            job.label,
            what,
        )
        self.held.settle(job, None, SettleAction.REQUEUE)

    def _ignored(self, job: Job, outcome: Outcome) -> None:
        logger.info("Task %s ignored", job.label)
        self.held.settle(job)

    async def _rejected(self, job: Job, outcome: Outcome) -> None:
        reject = outcome.exc if isinstance(outcome.exc, Reject) else Reject(outcome.exc)
        if reject.requeue:
            logger.info("Task %s rejected and requeued: %s", job.label, reject.reason)
            self.held.settle(job, None, SettleAction.REQUEUE)
            return
        logger.warning("Task %s rejected: %s", job.label, reject.reason)
        meta = self._meta(job, states.FAILURE, reject)
        if self.held.stores_results:
            self.held.store(meta)
        written = self.held.dead_letter_job(job, f"rejected by the task: {reject.reason}")
        if written is not None:
            await written

    def _revoked(self, job: Job, outcome: Outcome) -> None:
        """Revoked or expired before (or while) it ran: REVOKED, ``on_revoked``, ack.

        A message still held is discarded (acked with the state) and a chord hears of
        its part; one acked already (``acks_late=False``) only gets its state stored.
        """
        expired = outcome.kind is OutcomeKind.EXPIRED
        reason = "expired" if expired else str(outcome.exc or "revoked")
        if job.started:
            logger.warning("Task %s terminated (cancelled) by revoke", job.label)
        if not job.settled:
            if expired:
                logger.info("Discarding task %s: expired", job.label)
            else:
                logger.info("Discarding revoked task: %s", job.label)
        self.app.middleware.on_revoked(job.task, job.request, reason)
        meta = self._meta(job, states.REVOKED, outcome.exc)
        if job.settled:
            self.held.store(meta)
            return
        self.held.settle(job, meta)
        if job.call.chord and outcome.exc is not None:  # a revoked part fails its chord
            self._background(self._chord_part(job, states.REVOKED, outcome.exc))

    def _internal_error(self, job: Job, outcome: Outcome) -> None:
        """The worker's own steps failed (e.g. a bad rate_limit): FAILURE, dead-letter.

        Without this the message would stay leased (and renewed) forever, its result
        never written.
        """
        exc = outcome.exc
        assert isinstance(exc, Exception)
        logger.error("Task %s failed inside the worker: %r", job.label, exc, exc_info=exc)
        trace = outcome.traceback or "".join(tb.format_exception(exc))
        self.app.middleware.on_internal_error(job.task, job.request, exc, trace)
        self.held.store(self._meta(job, states.FAILURE, exc, trace))
        self.held.dead_letter_job(job, f"worker error: {exc!r}")

    # -- chords (see celeriac.canvas.workflow) -------------------------------------------
    def _background(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _report_then_settle(self, job: Job, retval: object, meta: ResultMeta | None) -> None:
        # Celery's order: the header task's result is stored before its part is counted,
        # so once the body ran every header result is readable; the ack comes last.
        if await self._report_part(job, states.SUCCESS, retval, meta):
            self.held.settle(job)
        else:
            self._follow_up_failed(job, "its chord part")

    async def _chord_part(
        self, job: Job, state: str, value: object, meta: ResultMeta | None = None
    ) -> None:
        """:meth:`_report_part`, for a report run in the background."""
        await self._report_part(job, state, value, meta)

    async def _report_part(
        self, job: Job, state: str, value: object, meta: ResultMeta | None = None
    ) -> bool:
        """Report this header task's final state to its chord (the last one sends the body);
        False when the report failed (its message must not be acked: the chord would
        wait for this part forever).

        Reports of jobs finishing together go to the backend in one batch (one pipeline
        on Redis); this returns once this one was recorded, before the message is acked.
        """
        assert self.chords is not None
        try:
            part = workflow.chord_part(job.request, state, value)
            await self.chords.report(part, meta.pair() if meta is not None else None)
        except Exception as exc:
            logger.error("Task %s: reporting to its chord failed: %r", job.label, exc)
            return False
        return True
