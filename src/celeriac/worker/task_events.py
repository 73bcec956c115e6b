"""TaskEvents: the ``task-*`` events of a worker, sent from the pipeline's observer seam.

It is the worker's :class:`~celeriac.worker.observer.PipelineObserver`: intake's
``received`` sends ``task-received``, the executor's ``started`` ``task-started``, and the
finisher's ``finished``, called once per end of a task whatever the end was, the one
event (or Celery's pair) for that end:

========================  =====================================================
outcome                   events
========================  =====================================================
SUCCESS                   ``task-succeeded``
FAILURE, TIME_LIMIT,      ``task-failed``
INTERNAL_ERROR, LOST
REJECTED                  ``task-failed`` then ``task-rejected`` (Celery's pair)
LOST, requeued            ``task-rejected`` with ``requeue`` (``acks_late`` +
                          ``reject_on_worker_lost``; no ``task-failed``, as Celery)
REVOKED, EXPIRED          ``task-revoked`` (``terminated``, ``signum``, ``expired``)
RETRY                     ``task-retried``, from ``retrying``: published before the
                          finisher publishes the retry message
IGNORED                   none (Celery sends none)
========================  =====================================================

A message naming an unknown task gets Celery's ``task-failed`` (``NotRegistered``).

Each consumer gets a dispatcher of its own when it starts (``opened``), on a connection
of its own in its own process (a prefork child publishes its task events itself; nothing
passes through the parent), bound to its loop so the events of ``event_batch_window``
seconds leave as one ``task.multi`` message. The prefork parent reports the tasks of a
child that died with the node's dispatcher (:meth:`TaskEvents.attach`). Beyond Celery,
``task-succeeded`` and ``task-failed`` of a task that ran carry ``runtime``, the process's
resident memory after it (``rss``, bytes) and its change over the task (``rss_delta``),
so a task that leaks shows up by name.

Task events are off until ``-E`` (``worker_send_task_events``) or ``enable_events``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING, Any

from celeriac.events import EventDispatcher
from celeriac.exceptions import Reject
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.pools.reports import RunningTask
from celeriac.protocol.saferepr import saferepr
from celeriac.utils.process import current_pid
from celeriac.worker.job import Job

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.protocol.task_message import TaskMessage
    from celeriac.transports.base import Transport

__all__ = [
    "TaskEvents",
    "install_task_events",
    "requeued_on_loss",
    "resident_bytes",
    "set_task_events",
]

logger = logging.getLogger("celery.events")

#: Most task events in one ``task.multi`` message.
BATCH_LIMIT = 100
#: Celery's ``resultrepr_maxsize``: ``task-succeeded``'s ``result`` is cut to this.
RESULT_REPR_MAXLEN = 1024
#: ``signum`` of ``task-revoked`` for a terminated task (``revoke``'s default, SIGTERM).
TERMINATE_SIGNUM = int(signal.SIGTERM)

_FAILED = frozenset(
    {OutcomeKind.FAILURE, OutcomeKind.TIME_LIMIT, OutcomeKind.INTERNAL_ERROR, OutcomeKind.LOST}
)

_statm: tuple[int, int] | None = None  # (pid, fd) of /proc/self/statm
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size in bytes (0 where ``/proc`` is missing).

    Reads ``/proc/self/statm`` through a descriptor kept open per process (one ``pread``,
    a few microseconds).
    """
    global _statm
    pid = current_pid()
    if _statm is None or _statm[0] != pid:
        try:
            _statm = (pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY))
        except OSError:
            return 0
    try:
        return int(os.pread(_statm[1], 128, 0).split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def requeued_on_loss(task: RunningTask, outcome: Outcome) -> bool:
    """Whether a lost child's ``task`` runs again (``acks_late`` + ``reject_on_worker_lost``)."""
    return outcome.kind is OutcomeKind.LOST and task.acks_late and task.reject_on_worker_lost


def _result_repr(value: object, maxlen: int = RESULT_REPR_MAXLEN) -> str:
    """``task-succeeded``'s ``result``: saferepr cut to ``maxlen`` (the task's
    ``resultrepr_maxsize``), with a short way for the common small values."""
    kind = type(value)
    if value is None or kind is bool or (kind is int and -(10**15) < value < 10**15):  # type: ignore[operator]
        return repr(value)
    return saferepr(value, maxlen)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class TaskEvents:
    """Sends the task events of the workers in this process (see the module)."""

    def __init__(self, app: Celery, *, enabled: bool = False) -> None:
        self.app = app
        self.enabled = enabled
        #: a bound dispatcher per consumer of this process, by hostname
        self._consumers: dict[str, EventDispatcher] = {}
        self._transports: dict[str, Transport] = {}
        #: the node's dispatcher (prefork parent: tasks of children that died)
        self._nodes: dict[str, EventDispatcher] = {}
        self._rss: dict[str, int] = {}
        self._lock = threading.Lock()
        #: what _dispatcher found last, by (hostname, node_first)
        self._found: dict[tuple[str | None, bool], EventDispatcher] = {}

    # -- dispatchers ---------------------------------------------------------------------
    def attach(self, hostname: str, dispatcher: EventDispatcher) -> None:
        """Report ``hostname``'s tasks that no consumer of this process finishes (a dead
        child's) with ``dispatcher``."""
        with self._lock:
            self._nodes[hostname] = dispatcher
            self._found.clear()

    def opened(self, hostname: str) -> None:
        """A consumer starts (on its loop): a dispatcher on a connection of its own."""
        transport = self.app.new_transport()
        dispatcher = EventDispatcher(
            self.app,
            hostname,
            transport=transport,
            buffer_group=["task"],
            buffer_limit=BATCH_LIMIT,
            buffer_window=float(self.app.conf.event_batch_window or 0.0),
        )
        dispatcher.bind_loop()
        with self._lock:
            self._consumers[hostname] = dispatcher
            self._transports[hostname] = transport
            self._found.clear()

    async def closing(self, hostname: str) -> None:
        """A consumer stops (on its loop): publish what is left, release the connection."""
        with self._lock:
            dispatcher = self._consumers.pop(hostname, None)
            transport = self._transports.pop(hostname, None)
            self._found.clear()
        if dispatcher is not None:
            await dispatcher.aclose()
        if transport is not None and transport is not self.app.transport:
            try:
                await transport.aclose()
            except Exception as exc:
                logger.debug("closing the events connection failed: %r", exc)

    def _dispatcher(
        self, hostname: str | None, *, node_first: bool = False
    ) -> EventDispatcher | None:
        """The dispatcher of this process for ``hostname`` (any, when None)."""
        if not self.enabled:
            return None
        pid = current_pid()
        cached = self._found.get((hostname, node_first))
        if cached is not None and cached.pid == pid:
            return cached
        found = self._find(hostname, node_first, pid)
        if found is not None:
            self._found[(hostname, node_first)] = found
        return found

    def _find(self, hostname: str | None, node_first: bool, pid: int) -> EventDispatcher | None:
        tables = (self._nodes, self._consumers) if node_first else (self._consumers, self._nodes)
        for table in tables:
            found = table.get(hostname) if hostname is not None else None
            if found is None and hostname is None:
                found = next(iter(table.values()), None)
            if found is not None and found.pid == pid:  # never a forked parent's connection
                return found
        return None

    def _for(self, job: Job) -> EventDispatcher | None:
        """The dispatcher for ``job``'s events; None when its task has ``send_events``
        off (Celery's ``Task.send_events``)."""
        if not job.task.send_events:
            return None
        return self._dispatcher(job.request.hostname)

    # -- the observer ----------------------------------------------------------------------
    def received(self, job: Job) -> None:
        """``task-received``, with Celery's fields and the queue."""
        dispatcher = self._for(job)
        if dispatcher is None:
            return
        request = job.request
        dispatcher.send(
            "task-received",
            uuid=request.id,
            name=job.task.name,
            args=request.argsrepr or saferepr(request.args),
            kwargs=request.kwargsrepr or saferepr(request.kwargs),
            root_id=request.root_id,
            parent_id=request.parent_id,
            retries=request.retries,
            eta=_iso(request.eta),
            expires=_iso(request.expires),
            queue=job.delivery.queue,
        )

    def started(self, job: Job) -> None:
        """``task-started`` (and the resident memory the task starts from)."""
        dispatcher = self._for(job)
        if dispatcher is None:
            return
        self._rss[job.call.id] = resident_bytes()
        dispatcher.send("task-started", uuid=job.call.id)

    async def retrying(self, job: Job, outcome: Outcome) -> None:
        """``task-retried``, published (after this task's earlier events) before the
        finisher publishes the retry message."""
        dispatcher = self._for(job)
        self._rss.pop(job.call.id, None)
        if dispatcher is None:
            return
        dispatcher.send(
            "task-retried",
            uuid=job.call.id,
            exception=saferepr(outcome.exc),
            traceback=outcome.traceback,
        )
        await dispatcher.aflush()

    def unknown_task(self, call: TaskMessage, error: Exception) -> None:
        """Celery's ``task-failed`` for a message naming a task this worker does not have."""
        dispatcher = self._dispatcher(None)
        if dispatcher is not None:
            dispatcher.send("task-failed", uuid=call.id, exception=f"NotRegistered({call.name!r})")

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """The events of one end of a task (see the module's table)."""
        if isinstance(job, RunningTask):
            self._lost(job, outcome)
            return
        task_id = job.call.id
        before = self._rss.pop(task_id, None)
        dispatcher = self._for(job)
        if dispatcher is None:
            return
        kind = outcome.kind
        if kind is OutcomeKind.SUCCESS:
            rss = resident_bytes()
            dispatcher.send(
                "task-succeeded",
                uuid=task_id,
                result=_result_repr(outcome.retval, job.task.resultrepr_maxsize),
                runtime=outcome.runtime,
                rss=rss,
                rss_delta=rss - (rss if before is None else before),
            )
        elif kind in _FAILED:
            extra: dict[str, Any] = {}
            if before is not None:  # it ran here: how long, and what it did to memory
                rss = resident_bytes()
                extra = {"runtime": outcome.runtime, "rss": rss, "rss_delta": rss - before}
            dispatcher.send(
                "task-failed",
                uuid=task_id,
                exception=saferepr(outcome.exc),
                traceback=self._traceback(outcome),
                **extra,
            )
        elif kind is OutcomeKind.REJECTED:
            self._rejected(dispatcher, task_id, outcome)
        elif kind in (OutcomeKind.REVOKED, OutcomeKind.EXPIRED):
            self._revoked(dispatcher, task_id, outcome)
        # RETRY: sent by ``retrying``; IGNORED: no event (as Celery)

    def _lost(self, task: RunningTask, outcome: Outcome) -> None:
        """The prefork parent finished ``task`` of a child that died."""
        dispatcher = self._dispatcher(None, node_first=True)
        known = self.app.tasks.get(task.name)
        if dispatcher is None or (known is not None and not known.send_events):
            return
        if outcome.kind is OutcomeKind.REVOKED:
            self._revoked(dispatcher, task.id, outcome)
        elif requeued_on_loss(task, outcome):
            dispatcher.send("task-rejected", uuid=task.id, requeue=True)
        else:
            dispatcher.send(
                "task-failed",
                uuid=task.id,
                exception=saferepr(outcome.exc),
                traceback=self._traceback(outcome),
            )

    @staticmethod
    def _traceback(outcome: Outcome) -> str | None:
        if outcome.traceback or outcome.exc is None:
            return outcome.traceback
        return f"{type(outcome.exc).__name__}: {outcome.exc}\n"

    @staticmethod
    def _rejected(dispatcher: EventDispatcher, task_id: str, outcome: Outcome) -> None:
        requeue = isinstance(outcome.exc, Reject) and outcome.exc.requeue
        dispatcher.send(  # Celery sends both, the failure with Reject's repr
            "task-failed", uuid=task_id, exception=repr(outcome.exc), traceback=outcome.traceback
        )
        dispatcher.send("task-rejected", uuid=task_id, requeue=requeue)

    @staticmethod
    def _revoked(dispatcher: EventDispatcher, task_id: str, outcome: Outcome) -> None:
        expired = outcome.kind is OutcomeKind.EXPIRED
        terminated = not expired and str(outcome.exc) == "terminated"
        dispatcher.send(
            "task-revoked",
            uuid=task_id,
            terminated=terminated,
            signum=TERMINATE_SIGNUM if terminated else None,
            expired=expired,
        )


_INSTALLED: weakref.WeakKeyDictionary[Celery, TaskEvents] = weakref.WeakKeyDictionary()


def install_task_events(app: Celery, *, enabled: bool) -> TaskEvents:
    """The app's :class:`TaskEvents` in this process (made once), switched on or off."""
    events = _INSTALLED.get(app)
    if events is None:
        events = _INSTALLED[app] = TaskEvents(app, enabled=enabled)
    events.enabled = enabled
    return events


def set_task_events(app: Celery, enabled: bool) -> bool:
    """Switch task events on or off in this process; False when they already were."""
    events = _INSTALLED.get(app)
    if events is None:
        return False
    changed = events.enabled != enabled
    events.enabled = enabled
    return changed
