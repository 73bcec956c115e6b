"""Who remote control answers for: an in-process consumer, or a prefork parent and its children.

A handler (:mod:`celeriac.worker.control_commands`) talks to a :class:`ControlNode`:
:class:`ConsumerNode` wraps the consumer of ``-P threads``/``solo`` (same event loop);
:class:`PreforkNode` is the prefork parent, which runs no tasks: it reads what children run
from their slot tables, terminates a task by killing the child running it, and relays
revokes and setting changes to the children through the shared ring of
:mod:`celeriac.worker.revoked`.
"""

from __future__ import annotations

import logging
import os
import signal as signal_module
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from celeriac.worker.revoked import RevokedSet, StateDB
from celeriac.worker.task_events import set_task_events

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.pools.prefork import ProcessPool
    from celeriac.pools.reports import RunningTask
    from celeriac.worker.consumer import Consumer
    from celeriac.worker.heartbeat import NodeEvents
    from celeriac.worker.job import Job

__all__ = ["ConsumerNode", "ControlNode", "PreforkNode", "apply_setting", "request_info"]

logger = logging.getLogger("celery.worker.control")

#: ``inspect scheduled``'s ``priority`` of an ETA task: Celery's worker timer entry's
ETA_TIMER_PRIORITY = 6


class ControlNode(Protocol):
    """What the handlers need from the worker they answer for."""

    app: Celery
    hostname: str
    revoked: RevokedSet
    statedb: StateDB | None
    started_at: float
    clock: int
    queues: list[str]
    #: the node's events (heartbeats, the task events switch); None until they start
    events: NodeEvents | None

    def active(self) -> list[dict[str, Any]]: ...
    def reserved(self) -> list[dict[str, Any]]: ...
    def scheduled(self) -> list[dict[str, Any]]: ...
    def running_ids(self) -> set[str]: ...
    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]: ...
    def shutdown(self) -> None: ...
    def pool_info(self) -> dict[str, Any]: ...
    def totals(self) -> dict[str, int]: ...
    def prefetch_count(self) -> int: ...
    def set_rate_limit(self, task_name: str, rate: Any) -> Any: ...


def request_info(job: Job, hostname: str, pid: int | None, safe: bool = False) -> dict[str, Any]:
    """Celery's request-info dict for ``active``/``reserved``/``scheduled``."""
    call = job.call
    info = job.request.delivery_info or {}
    args: Any = call.args
    kwargs: Any = call.kwargs
    if safe:
        args, kwargs = call.argsrepr or repr(call.args), call.kwargsrepr or repr(call.kwargs)
    found = {
        "id": call.id,
        "name": call.name,
        "args": args,
        "kwargs": kwargs,
        "type": call.name,
        "hostname": hostname,
        "time_start": job.time_start,
        "acknowledged": job.settled,
        "delivery_info": {
            "exchange": info.get("exchange", ""),
            "routing_key": info.get("routing_key", job.delivery.queue),
            "priority": info.get("priority", call.priority),
            "redelivered": bool(info.get("redelivered", False)),
        },
        "worker_pid": pid if job.started else None,
    }
    return _with_stamps(found, job.request.stamps)


def _with_stamps(info: dict[str, Any], stamps: dict[str, Any] | None) -> dict[str, Any]:
    """Celery 5.7's request info, plus the stamps of a stamped task (what
    ``revoke_by_stamped_headers`` matches; Celery reads them off its request objects)."""
    if stamps:
        info["stamped_headers"] = list(stamps)
        info["stamps"] = dict(stamps)
    return info


class ConsumerNode:
    """The node of an in-process worker (``-P threads``/``solo``, ``start_worker``)."""

    def __init__(
        self,
        consumer: Consumer,
        *,
        statedb: StateDB | None = None,
        pool: str = "threads",
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.app = consumer.app
        self.hostname = consumer.config.hostname
        self.queues = list(consumer.config.queues)
        self.revoked = consumer.revoked
        self.statedb = statedb
        self.pool = pool
        self.started_at = time.monotonic()
        self.clock = 0
        self.events: NodeEvents | None = None
        self._on_shutdown = on_shutdown

    def _jobs(self) -> list[Job]:
        return [job for job, runner in list(self.consumer.live.values()) if not runner.done()]

    def active(self) -> list[dict[str, Any]]:
        return [request_info(j, self.hostname, os.getpid()) for j in self._jobs() if j.started]

    def reserved(self) -> list[dict[str, Any]]:
        return [
            request_info(j, self.hostname, None)
            for j in self._jobs()
            if not j.started and not self._has_eta(j)
        ]

    def scheduled(self) -> list[dict[str, Any]]:
        return [
            {
                "eta": j.call.eta.isoformat() if j.call.eta else None,
                # Celery shows its timer entry's priority, 6 for every ETA task
                "priority": ETA_TIMER_PRIORITY,
                "request": request_info(j, self.hostname, None),
            }
            for j in self._jobs()
            if not j.started and self._has_eta(j)
        ]

    @staticmethod
    def _has_eta(job: Job) -> bool:
        return job.call.eta is not None and job.call.eta.timestamp() > time.time()

    def running_ids(self) -> set[str]:
        """Ids of the tasks whose bodies started (held, unstarted ones are not running)."""
        return {job.call.id for job in self._jobs() if job.started}

    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]:
        return self.consumer.revoke(task_ids, terminate=terminate)

    def shutdown(self) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        else:
            self.consumer.stop()

    def pool_info(self) -> dict[str, Any]:
        config = self.consumer.config
        return {
            "implementation": f"celeriac.pools.{self.pool}",
            "max-concurrency": config.concurrency,
            "processes": [os.getpid()],
            "max-tasks-per-child": config.max_tasks or "N/A",
            "put-guarded-by-semaphore": False,
            "timeouts": _timeouts(self.app),
        }

    def totals(self) -> dict[str, int]:
        return dict(getattr(self.consumer, "totals", {}) or {})

    def prefetch_count(self) -> int:
        config = self.consumer.config
        return config.concurrency * max(1, config.prefetch_multiplier)

    def set_rate_limit(self, task_name: str, rate: Any) -> Any:
        self.consumer.set_rate_limit(task_name, rate)
        return None


class PreforkNode:
    """The node of a prefork worker, answered by the parent (which runs no tasks)."""

    def __init__(
        self,
        app: Celery,
        hostname: str,
        pool: ProcessPool,
        revoked: RevokedSet,
        *,
        statedb: StateDB | None = None,
        prefetch: int = 0,
        queues: list[str] | None = None,
        on_shutdown: Callable[[], None] | None = None,
        set_rate_limit: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.app = app
        self.hostname = hostname
        self._set_rate_limit = set_rate_limit
        self.queues = list(queues or [])
        self.pool = pool
        self.revoked = revoked
        self.statedb = statedb
        self.started_at = time.monotonic()
        self.clock = 0
        self.events: NodeEvents | None = None
        self._prefetch = prefetch
        self._on_shutdown = on_shutdown

    def _running(self) -> list[tuple[int, RunningTask]]:
        found: list[tuple[int, RunningTask]] = []
        for child in list(self.pool.children.values()):
            try:
                records = child.running
            except (ValueError, OSError):  # its table was just closed
                continue
            found.extend((child.pid, record) for record in records.values())
        return found

    def active(self) -> list[dict[str, Any]]:
        return [
            _with_stamps(
                {
                    "id": record.id,
                    "name": record.name,
                    "args": [],
                    "kwargs": {},
                    "type": record.name,
                    "hostname": self.hostname,
                    "time_start": record.time,
                    "acknowledged": not record.acks_late,
                    "delivery_info": {
                        "exchange": "",
                        "routing_key": record.queue,
                        "priority": 0,
                        "redelivered": False,
                    },
                    "worker_pid": pid,
                },
                record.stamps,
            )
            for pid, record in self._running()
        ]

    def reserved(self) -> list[dict[str, Any]]:
        return []  # prefetched messages live in the children; not reported yet

    def scheduled(self) -> list[dict[str, Any]]:
        return []  # ETA tasks wait in the broker (DESIGN decision 4)

    def running_ids(self) -> set[str]:
        return {record.id for _, record in self._running()}

    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]:
        """Children see the ids through shared memory; ``terminate`` kills the child."""
        found: dict[str, str] = {}
        wanted = set(task_ids)
        for child in list(self.pool.children.values()):
            try:
                running = child.running
            except (ValueError, OSError):
                continue
            hits = wanted.intersection(running)
            if not hits:
                continue
            if not terminate:
                found.update(dict.fromkeys(hits, "revoked"))
                continue
            child.info.terminated.update(hits)
            child.killed_for = f"terminated by revoke ({', '.join(sorted(hits))})"
            # Our children treat SIGTERM as a warm shutdown (they would finish the
            # task), so the task's process is killed; other signals are sent as given.
            number = signal_module.SIGKILL if signum == signal_module.SIGTERM else signum
            logger.warning(
                "Terminating %s (signal %s): killing %s pid:%d",
                ", ".join(sorted(hits)),
                number,
                child.name,
                child.pid,
            )
            try:
                os.kill(child.pid, number)
            except ProcessLookupError:
                pass
            found.update(dict.fromkeys(hits, "terminated"))
        return found

    def shutdown(self) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        else:
            os.kill(os.getpid(), signal_module.SIGTERM)

    def pool_info(self) -> dict[str, Any]:
        return {
            "implementation": "celeriac.pools.prefork:ProcessPool",
            "max-concurrency": self.pool.size,
            "processes": sorted(self.pool.children),
            "max-tasks-per-child": self.app.conf.worker_max_tasks_per_child or "N/A",
            "put-guarded-by-semaphore": False,
            "timeouts": _timeouts(self.app),
        }

    def totals(self) -> dict[str, int]:
        """Tasks started, by name: what live children last reported, plus exited ones'."""
        merged = dict(self.pool.retired_totals)
        for child in list(self.pool.children.values()):
            for name, count in child.info.totals.items():
                merged[name] = merged.get(name, 0) + int(count)
        return merged

    def prefetch_count(self) -> int:
        return self._prefetch

    def set_rate_limit(self, task_name: str, rate: Any) -> Any:
        """Through ``Worker.set_rate_limit``: the shared rate table every child reads."""
        if self._set_rate_limit is None:
            raise NotImplementedError("rate_limit: this worker cannot change rate limits")
        self._set_rate_limit(task_name, rate)
        return None


def apply_setting(consumer: Consumer, method: str, arguments: dict[str, Any]) -> None:
    """A prefork child: apply a setting change its parent relayed (``time_limit``, …)."""
    app = consumer.app
    if method in ("enable_events", "disable_events"):
        set_task_events(app, method == "enable_events")
        return
    name = arguments.get("task_name")
    if not name or name not in app.tasks:
        return
    try:
        if method == "time_limit":
            task = app.tasks[name]
            task.time_limit = arguments.get("hard")
            task.soft_time_limit = arguments.get("soft")
    except Exception as exc:
        logger.error("Applying %s(%s) failed: %r", method, arguments, exc)


def _timeouts(app: Celery) -> list[float]:
    return [app.conf.task_soft_time_limit or 0, app.conf.task_time_limit or 0]
