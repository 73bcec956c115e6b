"""The worker's two ends of a prefork child: what the child reports, how the parent reads a loss.

A child's consumer reports each task it starts and finishes through
:class:`SlotReporter` (a memory write into the shared slot table). When the child dies,
the parent turns each task still in its table into an Outcome with
:func:`lost_outcome` and hands it to the finisher
(:meth:`~celeriac.worker.finisher.Finisher.finish_lost`).
"""

from __future__ import annotations

from celeriac.exceptions import TaskRevokedError, TimeLimitExceeded, WorkerLostError
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.pools.reports import RunningTask
from celeriac.pools.slots import SlotTable

__all__ = ["SlotReporter", "lost_outcome"]


class SlotReporter:
    """A child's :class:`~celeriac.pools.reports.TaskReporter`: its running tasks go to the
    slot table its parent reads (no pipe traffic per task)."""

    def __init__(self, table: SlotTable) -> None:
        self.table = table
        self._slots: dict[str, int | None] = {}

    def started(self, task: RunningTask) -> None:
        """Take a slot for ``task``."""
        self._slots[task.id] = self.table.acquire(task)

    def finished(self, task_id: str) -> None:
        """Free the slot of ``task_id``."""
        self.table.release(self._slots.pop(task_id, None))


def lost_outcome(
    task: RunningTask, cause: str, terminated: set[str], killed_for: str | None
) -> Outcome:
    """How ``task`` ended when its child died of ``cause``.

    REVOKED when ``revoke(terminate=True)`` killed the child for it (``terminated``),
    TIME_LIMIT when the parent killed it past its hard limit (``killed_for``), else LOST.
    """
    if task.id in terminated:
        return Outcome(OutcomeKind.REVOKED, exc=TaskRevokedError("terminated"))
    if killed_for is not None and "time limit" in killed_for:
        return Outcome(OutcomeKind.TIME_LIMIT, exc=TimeLimitExceeded(task.hard_limit))
    return Outcome(OutcomeKind.LOST, exc=WorkerLostError(f"Worker exited prematurely: {cause}."))
