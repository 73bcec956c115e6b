"""Worker and Task: what :class:`~celeriac.events.state.State` knows of one node and one task.

Celery's names and fields (``celery.events.state``): a worker is alive while its last
heartbeat (as received here) is younger than ``freq * 2``; a task's state follows its
events by precedence, so a late ``task-received`` cannot undo a ``task-succeeded``, but
fills in the name and arguments it carries.
"""

from __future__ import annotations

import bisect
import logging
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from celeriac import states

if TYPE_CHECKING:
    from celeriac.events.state import State

__all__ = [
    "HEARTBEAT_DRIFT_MAX",
    "HEARTBEAT_EXPIRE_WINDOW",
    "TASK_EVENT_TO_STATE",
    "Task",
    "Worker",
    "heartbeat_expires",
]

logger = logging.getLogger("celery.events")

#: A worker is offline once ``freq`` times this percentage passed since its last heartbeat.
HEARTBEAT_EXPIRE_WINDOW = 200
#: Seconds between an event's timestamp and its arrival before a clock-drift warning.
HEARTBEAT_DRIFT_MAX = 16

#: Task event subject → the state it puts the task in.
TASK_EVENT_TO_STATE = {
    "sent": states.PENDING,
    "received": states.RECEIVED,
    "started": states.STARTED,
    "failed": states.FAILURE,
    "retried": states.RETRY,
    "succeeded": states.SUCCESS,
    "revoked": states.REVOKED,
    "rejected": states.REJECTED,
}

_drift_warned: set[str] = set()


def heartbeat_expires(
    timestamp: float, freq: float = 60, expire_window: float = HEARTBEAT_EXPIRE_WINDOW
) -> float:
    """When a heartbeat received at ``timestamp`` stops vouching for its worker."""
    return float(timestamp) + float(freq) * (expire_window / 100.0)


class Worker:
    """One worker node as its events describe it."""

    heartbeat_max = 4
    expire_window = HEARTBEAT_EXPIRE_WINDOW

    _fields = (
        "hostname",
        "pid",
        "freq",
        "heartbeats",
        "clock",
        "active",
        "processed",
        "loadavg",
        "sw_ident",
        "sw_ver",
        "sw_sys",
    )

    def __init__(
        self,
        hostname: str | None = None,
        pid: int | None = None,
        freq: float = 60,
        heartbeats: list[float] | None = None,
        clock: int = 0,
        active: int | None = None,
        processed: int | None = None,
        loadavg: list[float] | None = None,
        sw_ident: str | None = None,
        sw_ver: str | None = None,
        sw_sys: str | None = None,
    ) -> None:
        self.hostname = hostname
        self.pid = pid
        self.freq = freq
        self.heartbeats: list[float] = [] if heartbeats is None else heartbeats
        self.clock = clock or 0
        self.active = active
        self.processed = processed
        self.loadavg = loadavg
        self.sw_ident = sw_ident
        self.sw_ver = sw_ver
        self.sw_sys = sw_sys

    def event(
        self,
        subject: str | None,
        timestamp: float | None = None,
        local_received: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Take in a worker event (``online``/``heartbeat``/``offline``), or a sign of life
        (``subject`` None: a task event from this worker)."""
        if fields:
            for key, value in fields.items():
                setattr(self, key, value)
        if subject == "offline":
            self.heartbeats[:] = []
            return
        if not local_received or not timestamp:
            return
        drift = abs(int(local_received) - int(timestamp))
        if drift > HEARTBEAT_DRIFT_MAX and self.hostname not in _drift_warned:
            _drift_warned.add(str(self.hostname))
            logger.warning(
                "Substantial drift from %s may mean clocks are out of sync. "
                "Current drift is %s seconds.",
                self.hostname,
                drift,
            )
        beats = self.heartbeats
        if len(beats) > self.heartbeat_max - 1:
            beats.pop(0)
        if beats and local_received > beats[-1]:
            beats.append(local_received)
        else:
            bisect.insort(beats, local_received)

    def update(self, fields: Mapping[str, Any], **more: Any) -> None:
        """Set attributes from ``fields`` (and ``more``)."""
        for key, value in {**fields, **more}.items():
            setattr(self, key, value)

    @property
    def heartbeat_expires(self) -> float:
        """When the last heartbeat stops vouching for this worker (epoch seconds)."""
        return heartbeat_expires(self.heartbeats[-1], self.freq, self.expire_window)

    @property
    def alive(self) -> bool:
        """Whether a heartbeat arrived within ``freq * 2`` seconds."""
        return bool(self.heartbeats and time.time() < self.heartbeat_expires)

    @property
    def status_string(self) -> str:
        """``ONLINE`` or ``OFFLINE``."""
        return "ONLINE" if self.alive else "OFFLINE"

    @property
    def id(self) -> str:
        """``<hostname>.<pid>``."""
        return f"{self.hostname}.{self.pid}"

    def as_dict(self) -> dict[str, Any]:
        """The worker's fields, plus ``alive`` and ``status``."""
        data = {key: getattr(self, key) for key in self._fields}
        data["heartbeats"] = list(self.heartbeats)
        data["alive"] = self.alive
        data["status"] = self.status_string
        return data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Worker) and other.hostname == self.hostname

    def __hash__(self) -> int:
        return hash(self.hostname)

    def __repr__(self) -> str:
        return f"<Worker: {self.hostname} ({self.status_string} clock:{self.clock})"


class Task:
    """One task as its events describe it (Celery's fields, and celeriac's ``rss_delta``)."""

    name: str | None = None
    state: str = states.PENDING
    sent: float | None = None
    received: float | None = None
    started: float | None = None
    succeeded: float | None = None
    failed: float | None = None
    retried: float | None = None
    revoked: float | None = None
    rejected: float | None = None
    args: str | None = None
    kwargs: str | None = None
    eta: str | None = None
    expires: str | None = None
    retries: int | None = None
    worker: Worker | None = None
    result: str | None = None
    exception: str | None = None
    timestamp: float | None = None
    runtime: float | None = None
    traceback: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    queue: str | None = None
    clock: int = 0
    client: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    #: celeriac: resident memory of the worker process after the task, and its change (bytes)
    rss: int | None = None
    rss_delta: int | None = None

    _fields: ClassVar[tuple[str, ...]] = (
        "uuid", "name", "state", "received", "sent", "started", "rejected",
        "succeeded", "failed", "retried", "revoked", "args", "kwargs",
        "eta", "expires", "retries", "worker", "result", "exception",
        "timestamp", "runtime", "traceback", "exchange", "routing_key",
        "clock", "client", "root", "root_id", "parent", "parent_id",
        "children", "queue", "rss", "rss_delta",
    )  # fmt: skip

    #: Fields an event that logically came earlier may still set: ``task-received`` is
    #: where the name and arguments come from, whenever it arrives.
    merge_rules: ClassVar[dict[str, tuple[str, ...]]] = {
        states.RECEIVED: (
            "name", "args", "kwargs", "parent_id", "root_id", "retries", "eta", "expires",
        ),
    }  # fmt: skip

    _info_fields: ClassVar[tuple[str, ...]] = (
        "args", "kwargs", "retries", "result", "eta", "runtime", "expires",
        "exception", "exchange", "routing_key", "root_id", "parent_id",
    )  # fmt: skip

    def __init__(
        self,
        uuid: str | None = None,
        cluster_state: State | None = None,
        children: Iterable[str] | None = None,
        **fields: Any,
    ) -> None:
        self.uuid = uuid
        self.cluster_state = cluster_state
        self.children: weakref.WeakSet[Task] = weakref.WeakSet()
        if cluster_state is not None:
            for task_id in children or ():
                child = cluster_state.tasks.get(task_id)
                if child is not None:
                    self.children.add(child)
        if fields:
            self.__dict__.update(fields)

    def event(
        self,
        subject: str,
        timestamp: float | None = None,
        local_received: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Take in a task event (``subject``: ``received``, ``succeeded`` …)."""
        values = dict(fields or {})
        state = TASK_EVENT_TO_STATE.get(subject)
        if state is not None:
            setattr(self, subject, timestamp)  # e.g. self.succeeded = the event's time
        else:
            state = subject.upper()  # a custom state
        if (
            state != states.RETRY
            and self.state != states.RETRY
            and states.precedence(state) > states.precedence(self.state)
        ):
            # This event happened before the current state: keep only what it owns.
            keep = self.merge_rules.get(state)
            if keep is not None:
                values = {key: value for key, value in values.items() if key in keep}
        else:
            values.update(state=state, timestamp=timestamp)
        self.__dict__.update(values)

    def info(
        self, fields: Iterable[str] | None = None, extra: Iterable[str] = ()
    ) -> dict[str, Any]:
        """The set fields worth showing (Celery's ``info``)."""
        keys = list(self._info_fields if fields is None else fields) + list(extra)
        return {key: value for key in keys if (value := getattr(self, key, None)) is not None}

    def as_dict(self) -> dict[str, Any]:
        """Every field, with ``worker`` as its hostname and relatives as ids."""
        data: dict[str, Any] = {}
        for key in self._fields:
            if key == "children":
                data[key] = [child.uuid for child in self.children]
            elif key == "root":
                data[key] = self.root_id
            elif key == "parent":
                data[key] = self.parent_id
            elif key == "worker":
                data[key] = self.worker.hostname if self.worker is not None else None
            else:
                data[key] = getattr(self, key, None)
        return data

    @property
    def id(self) -> str | None:
        """The task id (``uuid``)."""
        return self.uuid

    @property
    def origin(self) -> str | None:
        """Who reported it: the worker's id, else the client's node name."""
        return self.client if self.worker is None else self.worker.id

    @property
    def ready(self) -> bool:
        """Whether the task reached a final state."""
        return self.state in states.READY_STATES

    @property
    def parent(self) -> Task | None:
        """The parent task, when the state still holds it."""
        if not self.parent_id or self.cluster_state is None:
            return None
        return self.cluster_state.tasks.get(self.parent_id)

    @property
    def root(self) -> Task | None:
        """The root task of its workflow, when the state still holds it."""
        if not self.root_id or self.cluster_state is None:
            return None
        return self.cluster_state.tasks.get(self.root_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.uuid == self.uuid

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __repr__(self) -> str:
        return f"<Task: {self.name}({self.uuid}) {self.state} clock:{self.clock}>"
