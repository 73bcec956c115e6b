"""The seam where a task's life is watched from outside the pipeline (task events plug in here).

The worker pipeline tells one :class:`PipelineObserver` about each task: received
(intake), started (executor) and finished (finisher, also for tasks of a lost prefork
child, which the parent finishes). The finisher tells it once per end, whatever the end
was. The observer sees; it does not decide: an exception it raises is logged and ignored.

Besides the three required methods an observer may have these (each is called only
when the observer has it):

* ``opened(hostname)`` / ``async closing(hostname)``: a consumer of this process starts
  (on its loop, before the first message) / stops (on its loop, after its last task
  finished, before its broker connection closes);
* ``async retrying(job, outcome)``: the finisher stored RETRY and is about to publish the
  retry message; awaited first, so what the observer sends leaves before the next run
  can be received (Celery's ``task-retried``);
* ``unknown_task(call, error)``: intake turned away a message naming a task this worker
  does not have (FAILURE ``NotRegistered`` stored, dead-lettered).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from celeriac.execution.outcome import Outcome
from celeriac.pools.reports import RunningTask
from celeriac.protocol.task_message import TaskMessage
from celeriac.worker.job import Job

__all__ = ["Guarded", "NullObserver", "Observers", "PipelineObserver"]

logger = logging.getLogger("celery.worker.consumer")


class PipelineObserver(Protocol):
    """What an observer of the worker pipeline is told."""

    def received(self, job: Job) -> None:
        """``job`` passed intake: decoded, accepted, known and not revoked."""

    def started(self, job: Job) -> None:
        """``job``'s body is about to run."""

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """The finisher handled ``outcome``: its state was stored and its message settled.

        Called exactly once per end of a task. ``job`` is a
        :class:`~celeriac.pools.reports.RunningTask` when the prefork parent finishes a
        task its child was running when it died.
        """


class NullObserver:
    """Watches nothing (the default)."""

    def received(self, job: Job) -> None:
        """Nothing."""

    def started(self, job: Job) -> None:
        """Nothing."""

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """Nothing."""


class Observers:
    """Several observers as one, told in order (each one guarded on its own)."""

    def __init__(self, observers: Iterable[PipelineObserver | None]) -> None:
        self.observers = [Guarded(o) for o in observers if o is not None]

    def received(self, job: Job) -> None:
        """See :meth:`PipelineObserver.received`."""
        for observer in self.observers:
            observer.received(job)

    def started(self, job: Job) -> None:
        """See :meth:`PipelineObserver.started`."""
        for observer in self.observers:
            observer.started(job)

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """See :meth:`PipelineObserver.finished`."""
        for observer in self.observers:
            observer.finished(job, outcome)

    def opened(self, hostname: str) -> None:
        """A consumer starts (see the module)."""
        for observer in self.observers:
            observer.opened(hostname)

    async def closing(self, hostname: str) -> None:
        """A consumer stops (see the module)."""
        for observer in self.observers:
            await observer.closing(hostname)

    async def retrying(self, job: Job, outcome: Outcome) -> None:
        """The retry of ``job`` is about to be published (see the module)."""
        for observer in self.observers:
            await observer.retrying(job, outcome)

    def unknown_task(self, call: TaskMessage, error: Exception) -> None:
        """A message of an unknown task was turned away (see the module)."""
        for observer in self.observers:
            observer.unknown_task(call, error)


class Guarded:
    """Passes every call on to ``observer``; an observer that fails is logged, never fatal.

    The optional methods (see the module) are passed on only when ``observer`` has them.
    """

    def __init__(self, observer: PipelineObserver | None) -> None:
        self.observer: PipelineObserver = observer or NullObserver()

    def received(self, job: Job) -> None:
        """See :meth:`PipelineObserver.received`."""
        try:
            self.observer.received(job)
        except Exception as exc:
            self._failed("received", exc)

    def started(self, job: Job) -> None:
        """See :meth:`PipelineObserver.started`."""
        try:
            self.observer.started(job)
        except Exception as exc:
            self._failed("started", exc)

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """See :meth:`PipelineObserver.finished`."""
        try:
            self.observer.finished(job, outcome)
        except Exception as exc:
            self._failed("finished", exc)

    def opened(self, hostname: str) -> None:
        """A consumer starts (``opened``, when the observer has it)."""
        self._optional("opened", hostname)

    def unknown_task(self, call: TaskMessage, error: Exception) -> None:
        """An unknown task was turned away (``unknown_task``, when the observer has it)."""
        self._optional("unknown_task", call, error)

    async def closing(self, hostname: str) -> None:
        """A consumer stops (``closing``, when the observer has it; awaited)."""
        await self._aoptional("closing", hostname)

    async def retrying(self, job: Job, outcome: Outcome) -> None:
        """A retry is about to be published (``retrying``, when the observer has it)."""
        await self._aoptional("retrying", job, outcome)

    def _optional(self, method: str, *args: Any) -> Any:
        hook = getattr(self.observer, method, None)
        if hook is None:
            return None
        try:
            return hook(*args)
        except Exception as exc:
            self._failed(method, exc)
            return None

    async def _aoptional(self, method: str, *args: Any) -> None:
        pending = self._optional(method, *args)
        if not inspect.isawaitable(pending):
            return
        try:
            await pending
        except Exception as exc:
            self._failed(method, exc)

    def _failed(self, method: str, exc: Exception) -> None:
        logger.warning("Pipeline observer %r failed in %s: %r", self.observer, method, exc)
