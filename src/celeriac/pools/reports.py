"""What a prefork child tells its parent, as typed records (never dicts read by string keys).

Two channels carry them. The task a child is running sits in the shared
:class:`~celeriac.pools.slots.SlotTable` as a :class:`RunningTask` (a memory write per
task start and end; the parent reads it when the child dies or overruns its hard time
limit). Rare events go over the child's pipe as :data:`ChildReport` objects
(:class:`Ready`, :class:`Totals`, :class:`Drained`); the parent gathers them in the
child's :class:`ChildInfo`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ChildInfo",
    "ChildReport",
    "Drained",
    "Ready",
    "RunningTask",
    "TaskReporter",
    "Totals",
]


@dataclass(frozen=True, slots=True)
class RunningTask:
    """One task a child has started and not finished.

    Attributes:
        id: the task id.
        name: the task name.
        tag: the delivery tag of its message.
        queue: the queue it came from.
        time: epoch seconds when its body started.
        acks_late: its message is acked after the body ran (still held while it runs).
        reject_on_worker_lost: requeue it when its process dies (with ``acks_late``).
        hard_limit: its hard time limit in seconds, None for none.
        stamps: its stamps (``Signature.stamp``), for ``inspect active`` and
            ``revoke_by_stamped_headers(terminate=True)``; None when it has none (or they do
            not fit the slot).
    """

    id: str
    name: str
    tag: str
    queue: str
    time: float
    acks_late: bool = False
    reject_on_worker_lost: bool = False
    hard_limit: float | None = None
    stamps: dict[str, object] | None = None

    def to_json(self) -> bytes:
        """The record as compact JSON (what the slot table stores)."""
        # Written at every task start: a plain dict, not dataclasses.asdict's deep copy.
        record: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "tag": self.tag,
            "queue": self.queue,
            "time": self.time,
            "acks_late": self.acks_late,
            "reject_on_worker_lost": self.reject_on_worker_lost,
            "hard_limit": self.hard_limit,
        }
        if self.stamps:
            record["stamps"] = self.stamps
        return json.dumps(record, separators=(",", ":"), default=repr).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> RunningTask:
        """Read a record written by :meth:`to_json`.

        Raises:
            ValueError: ``raw`` is not such a record.
        """
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a running-task record is a JSON object")
        try:
            hard_limit = data.get("hard_limit")
            return cls(
                id=str(data["id"]),
                name=str(data["name"]),
                tag=str(data["tag"]),
                queue=str(data["queue"]),
                time=float(data["time"]),
                acks_late=bool(data.get("acks_late", False)),
                reject_on_worker_lost=bool(data.get("reject_on_worker_lost", False)),
                hard_limit=float(hard_limit) if hard_limit is not None else None,
                stamps=stamps if isinstance(stamps := data.get("stamps"), dict) else None,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a running-task record: {exc!r}") from None


@dataclass(frozen=True, slots=True)
class Ready:
    """The child's consumer is fetching: its transport consumer id (for ``recover``)."""

    consumer_id: str
    pid: int


@dataclass(frozen=True, slots=True)
class Totals:
    """Tasks the child started so far, by name (remote control's ``stats``)."""

    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class Drained:
    """Burst mode: the child found its queues empty and exits; do not replace it."""


#: A report sent over a child's pipe.
ChildReport = Ready | Totals | Drained


@dataclass(slots=True)
class ChildInfo:
    """What the parent knows of one child from its reports (and from remote control).

    Attributes:
        consumer_id: the transport consumer id, once the child is ready.
        pid: the child's pid as it reported it.
        drained: it exits because its queues are empty (burst mode).
        totals: tasks it started, by name.
        terminated: ids of its tasks a ``revoke(terminate=True)`` killed it for.
    """

    consumer_id: str | None = None
    pid: int | None = None
    drained: bool = False
    totals: dict[str, int] = field(default_factory=dict)
    terminated: set[str] = field(default_factory=set)

    def take(self, report: ChildReport) -> None:
        """Record one report from the child."""
        if isinstance(report, Ready):
            self.consumer_id, self.pid = report.consumer_id, report.pid
        elif isinstance(report, Totals):
            self.totals = dict(report.counts)
        elif isinstance(report, Drained):
            self.drained = True


class TaskReporter(Protocol):
    """How a prefork child's consumer tells its parent which tasks it runs (the slot table)."""

    def started(self, task: RunningTask) -> None:
        """``task``'s body starts now."""

    def finished(self, task_id: str) -> None:
        """The task ``task_id`` ended (its outcome was handled)."""
