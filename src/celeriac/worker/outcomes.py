"""What happens after a task body ran: store the state, send callbacks or the retry, settle."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app.trace import IGNORED, REJECTED, Outcome
from celeriac.exceptions import EncodeError, Reject
from celeriac.protocol.task import HEADER_KEYS
from celeriac.utils.log import safe_repr

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transports.base import Transport
    from celeriac.worker.job import Job
    from celeriac.worker.settler import Settler

__all__ = ["OutcomeHandler"]

logger = logging.getLogger("celeriac.worker.strategy")


def _custom_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """The caller's own headers of a message (``apply_async(headers=...)``), which a retry keeps."""
    return {
        key: value
        for key, value in headers.items()
        if key not in HEADER_KEYS and key != "compression"
    }


class OutcomeHandler:
    """Turns an Outcome into backend writes, follow-up messages and an ack (in that order)."""

    def __init__(self, app: Celery, transport: Transport, settler: Settler) -> None:
        self.app = app
        self.transport = transport
        self.settler = settler
        conf = app.conf
        self.store_errors_even_if_ignored = bool(conf.task_store_errors_even_if_ignored)

    def _ignore_result(self, job: Job) -> bool:
        return job.request.ignore_result or job.task.resolve_ignore_result()

    def _meta(
        self,
        job: Job,
        state: str,
        value: Any,
        traceback: str | None = None,
        children: list[Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        meta = self.app.result_meta(
            job.call.id, state, value, request=job.request, traceback=traceback, children=children
        )
        return job.call.id, meta

    async def handle(self, job: Job, outcome: Outcome) -> None:
        """Record ``outcome`` for ``job`` and settle its message."""
        if outcome.state == states.SUCCESS:
            await self._success(job, outcome)
        elif outcome.state == states.RETRY:
            await self._retry(job, outcome)
        elif outcome.state == IGNORED:
            logger.info("Task %s ignored", job.label)
            self._settle(job, None)
        elif outcome.state == REJECTED:
            await self._rejected(job, outcome)
        else:
            await self._failure(job, outcome)

    def _settle(
        self, job: Job, meta: tuple[str, dict[str, Any]] | None, action: str = "ack"
    ) -> None:
        if job.settled:  # acked early (acks_late=False): only the result is left to store
            if meta is not None:
                self.settler.store(*meta)
            return
        job.settled = True
        self.settler.add(job.delivery, meta, action)

    async def _success(self, job: Job, outcome: Outcome) -> None:
        logger.info(
            "Task %s succeeded in %.6fs: %s", job.label, outcome.runtime, safe_repr(outcome.retval)
        )
        children: list[Any] = []
        if job.call.chain:
            children += await self._continue_chain(job, outcome.retval)
        if job.request.callbacks:
            children += await self._send_signatures(job, job.request.callbacks, (outcome.retval,))
        meta = None
        if not self._ignore_result(job):
            meta = self._meta(job, states.SUCCESS, outcome.retval, children=children)
        if job.call.chord:
            # Report to the chord, then settle, in the background: the job leaves the
            # prefetch window now, and reports of jobs finishing together share one batch.
            # The message is acked only after its part was recorded.
            self._background(self._report_then_settle(job, outcome.retval, meta))
            return
        self._settle(job, meta)

    async def _failure(self, job: Job, outcome: Outcome) -> None:
        exc = outcome.exc
        logger.error(
            "Task %s raised unexpected: %r\n%s", job.label, exc, (outcome.traceback or "").rstrip()
        )
        meta = None
        if not self._ignore_result(job) or self.store_errors_even_if_ignored:
            meta = self._meta(job, states.FAILURE, exc, outcome.traceback)
        if job.request.errbacks:
            await self._send_signatures(job, job.request.errbacks, (job.call.id,), errback=True)
        if job.call.chord:
            await self._chord_part(job, states.FAILURE, exc)
        if job.call.chain:
            await self._fail_chain(job, exc)
        action = "ack" if job.task.acks_on_failure_or_timeout else "requeue"
        self._settle(job, meta, action)

    async def _retry(self, job: Job, outcome: Outcome) -> None:
        signal = outcome.retry
        assert signal is not None
        sig = signal.sig or {}
        call = job.call
        countdown = sig.get("countdown")
        eta = sig.get("eta")
        # The call as it came, then what the task passed to retry(**options) on top.
        options: dict[str, Any] = {
            "task_id": call.id,
            "countdown": countdown if eta is None else None,
            "eta": eta,
            "expires": call.expires,
            "parent_id": call.parent_id,
            "root_id": call.root_id,
            "group_id": call.group,
            "group_index": call.group_index,
            "link": call.callbacks,
            "link_error": call.errbacks,
            "chain": call.chain,
            "chord": call.chord,
            "origin": call.origin,
            "shadow": call.shadow,
            "priority": call.priority,
            "queue": job.delivery.queue,
            "time_limit": call.time_limit,
            "soft_time_limit": call.soft_time_limit,
            "headers": _custom_headers(call.headers),
            "ignore_result": call.ignore_result,
        }
        options.update(
            {key: value for key, value in (sig.get("options") or {}).items() if value is not None}
        )
        options["retries"] = call.retries + 1
        # RETRY is written before the retry is sent: written later, it could land after
        # (and hide) what the next run stores, e.g. its final FAILURE.
        await self.settler.store_now(*self._meta(job, states.RETRY, outcome.exc, outcome.traceback))
        try:
            await asyncio.to_thread(
                self.app.send_task,
                call.name,
                sig.get("args", call.args),
                sig.get("kwargs", call.kwargs),
                **options,
            )
        except Exception as exc:  # the retry could not be sent: keep the message
            logger.error(
                "Task %s: sending its retry failed (%r); the message stays unacked", job.label, exc
            )
            return
        logger.info("Task %s retry: %s", job.label, signal)
        self._settle(job, None)

    async def _rejected(self, job: Job, outcome: Outcome) -> None:
        reject = outcome.exc if isinstance(outcome.exc, Reject) else Reject(outcome.exc)
        if reject.requeue:
            logger.info("Task %s rejected and requeued: %s", job.label, reject.reason)
            self._settle(job, None, "requeue")
            return
        logger.warning("Task %s rejected: %s", job.label, reject.reason)
        meta = self._meta(job, states.FAILURE, reject)
        if meta is not None and self.settler.backend.stores_results:
            self.settler.store(*meta)
        if not job.settled:
            job.settled = True
            await self.transport.dead_letter(job.delivery, f"rejected by the task: {reject.reason}")

    async def _send_signatures(
        self,
        job: Job,
        signatures: list[dict[str, Any]],
        args: tuple[Any, ...],
        errback: bool = False,
    ) -> list[Any]:
        """Apply link/link_error signatures; return their result tuples (the children)."""
        from celeriac.canvas.signature import Signature

        children: list[Any] = []
        for item in signatures:
            sig = Signature.from_dict(item, app=self.app)
            try:
                result = await asyncio.to_thread(
                    sig.apply_async,
                    args if not sig.immutable else (),
                    parent_id=job.call.id,
                    root_id=job.call.root_id or job.call.id,
                )
            except Exception as exc:
                kind = "errback" if errback else "callback"
                logger.error("Task %s: sending %s %r failed: %r", job.label, kind, sig, exc)
                continue
            if hasattr(result, "as_tuple"):
                children.append(result.as_tuple())
        return children

    # -- canvas: chains and chords (see celeriac.canvas) ---------------------------------
    def _background(self, coro: Any) -> None:
        pending: set[asyncio.Task[None]] = self.__dict__.setdefault("_pending", set())
        task = asyncio.get_running_loop().create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def drain(self) -> None:
        """Wait for background chord reports (and the settles after them) to finish."""
        pending: set[asyncio.Task[None]] = self.__dict__.get("_pending", set())
        while pending:
            await asyncio.gather(*list(pending), return_exceptions=True)

    def report_revoked(self, job: Job, exc: BaseException) -> None:
        """Report a revoked (or expired) chord header task as a REVOKED part, in the
        background: Celery counts it, and the chord fails with ChordError."""
        self._background(self._chord_part(job, states.REVOKED, exc))

    async def _report_then_settle(
        self, job: Job, retval: Any, meta: tuple[str, dict[str, Any]] | None
    ) -> None:
        # Celery's order: the header task's result is stored before its part is counted,
        # so once the body ran every header result is readable; the ack comes last.
        await self._chord_part(job, states.SUCCESS, retval, meta)
        self._settle(job, None)

    async def _continue_chain(self, job: Job, retval: Any) -> list[Any]:
        """Send the chain's next step (the last element) with the rest; return its tuple."""
        from celeriac.canvas.signature import Signature

        chain = list(job.call.chain or ())
        step = Signature.from_dict(chain.pop(), app=self.app)
        call = job.call
        try:
            result = await asyncio.to_thread(
                step.apply_async,
                (retval,),
                chain=chain,
                parent_id=call.id,
                root_id=call.root_id or call.id,
            )
        except Exception as exc:
            logger.error("Task %s: sending the next chain step %r failed: %r", job.label, step, exc)
            return []
        return [result.as_tuple()] if hasattr(result, "as_tuple") else []

    async def _chord_part(
        self,
        job: Job,
        state: str,
        value: Any,
        meta: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Report this header task's final state to its chord (the last one sends the body).

        Reports of jobs finishing together go to the backend in one batch (one pipeline
        on Redis); this returns once this one was recorded, before the message is acked.
        """
        from celeriac.canvas.chord import ChordPart

        call = job.call
        part = ChordPart(
            call.id, call.group, call.group_index, call.chord, state, value, call.root_id
        )
        reporter = self.__dict__.get("_chord_reporter")
        if reporter is None:
            reporter = self.__dict__["_chord_reporter"] = _ChordReporter(self.app, self.settler)
        try:
            await reporter.report(part, meta)
        except Exception as exc:
            logger.error("Task %s: reporting to its chord failed: %r", job.label, exc)

    async def _fail_chain(self, job: Job, exc: BaseException | None) -> None:
        """Store the failure for the chain's remaining steps (their results would never come),
        and report it to a chord the last step belongs to."""
        from celeriac.canvas.chord import on_chord_part_return
        from celeriac.canvas.signature import Signature

        error = exc if exc is not None else Exception("chain step failed")
        for item in job.call.chain or ():
            step = Signature.from_dict(item, app=self.app)
            step_id = step.id
            if not step_id:
                continue
            options = step["options"]
            meta = self.app.result_meta(step_id, states.FAILURE, error, traceback=None)
            self.settler.store(step_id, meta)
            if options.get("chord") and options.get("group_id"):
                try:
                    await asyncio.to_thread(
                        on_chord_part_return,
                        self.app,
                        task_id=step_id,
                        group_id=options.get("group_id"),
                        group_index=options.get("group_index"),
                        chord_sig=options.get("chord"),
                        state=states.FAILURE,
                        value=error,
                        root_id=job.call.root_id,
                    )
                except Exception as report_exc:
                    logger.error("Task %s: reporting to a chord failed: %r", job.label, report_exc)


class _ChordReporter:
    """Batches chord part reports of jobs that finish together into one backend call."""

    def __init__(self, app: Celery, settler: Settler) -> None:
        self.app = app
        self.settler = settler
        self.pending: list[tuple[Any, tuple[str, dict[str, Any]] | None, asyncio.Future[None]]]
        self.pending = []
        self.task: asyncio.Task[None] | None = None

    async def report(self, part: Any, meta: tuple[str, dict[str, Any]] | None = None) -> None:
        """Store ``meta`` (the task's result) if given, then count ``part``; batched."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.pending.append((part, meta, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._flush(), name="chord-reports")
        await future

    async def _flush(self) -> None:
        from celeriac.canvas.chord import aon_chord_parts_return

        while self.pending:
            batch, self.pending = self.pending[:512], self.pending[512:]
            parts = [part for part, _, _ in batch]
            metas = [meta for _, meta, _ in batch if meta is not None]
            if not self.settler.backend.stores_results:
                metas = []
            try:
                try:
                    await aon_chord_parts_return(self.app, parts, metas)
                except EncodeError:  # a result the serializer refuses: the settler's path
                    await self._store(metas)
                    await aon_chord_parts_return(self.app, parts)
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                        )
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _store(self, metas: list[tuple[str, dict[str, Any]]]) -> None:
        """The header tasks' results, before their parts are counted (Celery's order)."""
        for meta in metas:
            await self.settler.store_now(*meta)
