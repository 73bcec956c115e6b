"""The worker's process-wide state under Celery's names (``celery.worker.state``).

Every consumer in this process reports the tasks it reserves, starts and finishes here
(through :class:`StateObserver`, one of its pipeline observers), so a project (or a test
next to an in-process worker) reads Celery's ``requests``, ``reserved_requests``,
``active_requests``, ``successful_requests``, ``total_count`` and ``all_total_count``.
``revoked`` and ``revoked_stamps`` are the revoked ids and stamped headers of the last
worker started in this process (its :class:`~celeriac.worker.revoked.RevokedSet`, the
set remote control's ``revoke`` fills). Under prefork the tasks run in the children, so
the parent's counters stay empty there, as each child keeps its own.
"""

from __future__ import annotations

import os
import platform
import threading
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from celeriac import __version__
from celeriac.exceptions import WorkerShutdown, WorkerTerminate
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context
from celeriac.worker.revoked import REVOKE_EXPIRES, REVOKES_MAX, RevokedSet

if TYPE_CHECKING:
    from celeriac.pools.reports import RunningTask
    from celeriac.worker.job import Job

__all__ = [
    "REVOKES_MAX",
    "REVOKE_EXPIRES",
    "SOFTWARE_INFO",
    "SUCCESSFUL_EXPIRES",
    "SUCCESSFUL_MAX",
    "StateObserver",
    "active_requests",
    "all_total_count",
    "maybe_shutdown",
    "requests",
    "reserved_requests",
    "reset_state",
    "successful_requests",
    "task_accepted",
    "task_ready",
    "task_reserved",
    "total_count",
    "use_revoked",
]

#: The worker's software and platform, as its heartbeats describe it.
SOFTWARE_INFO = {"sw_ident": "py-celery", "sw_ver": __version__, "sw_sys": platform.system()}
#: How many successful task ids are remembered, and for how long (seconds).
SUCCESSFUL_MAX = int(os.environ.get("CELERY_WORKER_SUCCESSFUL_MAX", 1000))
SUCCESSFUL_EXPIRES = float(os.environ.get("CELERY_WORKER_SUCCESSFUL_EXPIRES", 10800))


class RequestSet:
    """The requests of tasks in one stage (reserved, active), by task id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Context] = {}
        self._lock = threading.Lock()

    def add(self, request: Context) -> None:
        """Add a request."""
        with self._lock:
            self._by_id[str(request.id)] = request

    def discard(self, request: Context) -> None:
        """Remove a request (no error if absent)."""
        with self._lock:
            self._by_id.pop(str(request.id), None)

    def clear(self) -> None:
        """Remove every request."""
        with self._lock:
            self._by_id.clear()

    def __contains__(self, item: object) -> bool:
        key = item if isinstance(item, str) else getattr(item, "id", None)
        return key in self._by_id

    def __iter__(self) -> Iterator[Context]:
        with self._lock:
            return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)


#: reserved task id -> request
requests: dict[str, Context] = {}
#: requests received and not finished
reserved_requests = RequestSet()
#: requests whose body is running
active_requests = RequestSet()
#: ids of tasks that succeeded lately (bounded, expiring)
successful_requests = RevokedSet(maxlen=SUCCESSFUL_MAX, expires=SUCCESSFUL_EXPIRES)
#: tasks started, by name
total_count: Counter[str] = Counter()
#: tasks started in all (a one-item list, as in Celery)
all_total_count = [0]
#: set by a shutdown request: a true value makes :func:`maybe_shutdown` raise
should_stop: object = None
should_terminate: object = None

_revoked = RevokedSet(REVOKES_MAX, REVOKE_EXPIRES)
_lock = threading.Lock()


def use_revoked(revoked: RevokedSet) -> None:
    """Make ``revoked`` (a starting worker's set) this process's ``state.revoked``."""
    global _revoked
    _revoked = revoked


def __getattr__(name: str) -> Any:
    """``revoked`` and ``revoked_stamps``: the current worker's, looked up at each access."""
    if name == "revoked":
        return _revoked
    if name == "revoked_stamps":
        return _revoked.stamps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def reset_state() -> None:
    """Forget every request, count, revoked id and stamp."""
    requests.clear()
    reserved_requests.clear()
    active_requests.clear()
    successful_requests.clear()
    total_count.clear()
    all_total_count[:] = [0]
    _revoked.clear()


def maybe_shutdown() -> None:
    """Raise :class:`WorkerTerminate` or :class:`WorkerShutdown` if one was asked for."""
    if should_terminate is not None and should_terminate is not False:
        raise WorkerTerminate(should_terminate)
    if should_stop is not None and should_stop is not False:
        raise WorkerShutdown(should_stop)


def task_reserved(request: Context) -> None:
    """A task was received (reserved)."""
    requests[str(request.id)] = request
    reserved_requests.add(request)


def task_accepted(request: Context) -> None:
    """A task's body starts."""
    requests[str(request.id)] = request
    active_requests.add(request)
    with _lock:
        total_count[str(request.task)] += 1
        all_total_count[0] += 1


def task_ready(request: Context, successful: bool = False) -> None:
    """A task finished (``successful`` when it succeeded)."""
    if successful:
        successful_requests.add([str(request.id)])
    requests.pop(str(request.id), None)
    active_requests.discard(request)
    reserved_requests.discard(request)


class StateObserver:
    """The pipeline observer that keeps this module's state (every consumer has one)."""

    def received(self, job: Job) -> None:
        """See :meth:`PipelineObserver.received`."""
        task_reserved(job.request)

    def started(self, job: Job) -> None:
        """See :meth:`PipelineObserver.started`."""
        task_accepted(job.request)

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        """See :meth:`PipelineObserver.finished`."""
        request = getattr(job, "request", None)
        if request is None:  # a lost prefork child's task, finished by the parent
            request = Context(id=getattr(job, "id", None), task=getattr(job, "name", None))
        task_ready(request, successful=outcome.kind == OutcomeKind.SUCCESS)
