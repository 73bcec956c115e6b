"""ProcessPool: forks N children, restarts them when they exit, kills one on a hard limit."""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait

from celeriac import signals as celeriac_signals
from celeriac.pools.reports import ChildInfo, ChildReport, RunningTask
from celeriac.pools.slots import SlotTable

__all__ = ["ChildProcess", "ProcessPool", "describe_status"]

logger = logging.getLogger("celery.pool")

#: Seconds a child gets past a task's hard time limit before the parent kills it.
HARD_LIMIT_GRACE = 2.0


def describe_status(status: int) -> str:
    """Say how a process ended, from an ``os.waitpid`` status."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"signal {number} ({name})"
    return f"exitcode {os.WEXITSTATUS(status)}"


@dataclass(slots=True)
class ChildProcess:
    """One forked child, as the parent sees it."""

    index: int
    pid: int
    conn: Connection
    started_at: float = field(default_factory=time.monotonic)
    table: SlotTable | None = None
    info: ChildInfo = field(default_factory=ChildInfo)
    killed_for: str | None = None
    #: retired by the autoscaler or ``pool_shrink``: not replaced when it exits
    retired: bool = False

    @property
    def running(self) -> dict[str, RunningTask]:
        """The tasks it is running now (read from its slot table), by id."""
        return self.table.running() if self.table is not None else {}

    @property
    def name(self) -> str:
        """Celery's name for pool children (``ForkPoolWorker-1``)."""
        return f"ForkPoolWorker-{self.index}"


def _stop_with_parent(parent_pid: int) -> None:
    """Make the kernel send this child SIGTERM (a warm shutdown) when its parent dies.

    A supervisor killed with SIGKILL must not leave children consuming on their own
    (Linux ``PR_SET_PDEATHSIG``; elsewhere the child keeps running until stopped).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect:
        os._exit(0)  # nothing taken yet, nothing to give back


class ProcessPool:
    """Supervises ``size`` forked children that each run ``target(index, conn)``.

    Children send :data:`~celeriac.pools.reports.ChildReport` objects over their pipe
    (``Ready`` with the consumer id, ``Totals``, ``Drained`` before a burst-mode child
    exits on empty queues: it is not replaced) and keep the tasks they run in their
    slot table. The parent restarts a child
    that exits while the pool runs, calls ``on_aborted(child, status)`` when a child did not
    exit cleanly (``child.running`` holds the tasks it was running), and kills a child
    whose task outlived its hard time limit.
    """

    def __init__(
        self,
        size: int,
        target: Callable[[int, Connection, SlotTable], int],
        on_aborted: Callable[[ChildProcess, str], None] | None = None,
        slots: int = 128,
    ) -> None:
        self.size = size
        self.slots = slots
        self.target = target
        self.on_aborted = on_aborted
        self.children: dict[int, ChildProcess] = {}
        #: called on each turn of :meth:`run` (the autoscaler); may call grow/shrink
        self.on_tick: Callable[[], None] | None = None
        #: size changes asked from other threads (remote control), applied by :meth:`run`
        self._resize_requests: list[int] = []
        #: a restart asked from another thread (``pool_restart``), applied by :meth:`run`
        self._restart_requested = False
        self.stopping = False
        self._cold = False
        #: per-task counts ("totals" reports) of children that exited, summed
        self.retired_totals: dict[str, int] = {}

    # -- children --------------------------------------------------------------------
    def _fork(self, index: int) -> None:
        parent_end, child_end = Pipe(duplex=False)
        table = SlotTable(self.slots)
        parent_pid = os.getpid()
        celeriac_signals.worker_before_create_process.send(sender=self)
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                _stop_with_parent(parent_pid)
                parent_end.close()
                for other in self.children.values():
                    other.conn.close()
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGQUIT, signal.SIG_DFL)
                code = self.target(index, child_end, table)
            except BaseException:
                logger.exception("Pool child %d crashed", index)
            finally:
                os._exit(code)
        child_end.close()
        self.children[pid] = ChildProcess(index, pid, parent_end, table=table)

    def start(self) -> None:
        """Fork every child.

        ``gc.freeze()`` first moves everything the parent allocated out of the
        collector's reach, so a child's collections do not write to (and so copy) the
        pages it shares with the parent.
        """
        gc.collect()
        gc.freeze()
        for index in range(1, self.size + 1):
            self._fork(index)

    def signal_children(self, signum: int) -> None:
        """Send a signal to every child."""
        for child in list(self.children.values()):
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, cold: bool = False) -> None:
        """Stop: warm lets children finish their tasks, cold makes them give tasks back now."""
        self.stopping = True
        if cold and not self._cold:
            self._cold = True
            self.signal_children(signal.SIGQUIT)
        elif not cold:
            self.signal_children(signal.SIGTERM)

    # -- size ----------------------------------------------------------------------------
    def grow(self, n: int = 1) -> None:
        """Fork ``n`` more children (call from the thread running :meth:`run`)."""
        used = {child.index for child in self.children.values()}
        for _ in range(max(0, n)):
            index = next(i for i in range(1, len(used) + 2) if i not in used)
            used.add(index)
            self.size += 1
            self._fork(index)

    def shrink(self, n: int = 1) -> int:
        """Retire up to ``n`` idle children (warm: they exit, not replaced); return how many.

        At least one child stays.
        """
        idle = [c for c in self.children.values() if not c.running and not c.retired]
        done = 0
        for child in sorted(idle, key=lambda c: -c.index):
            if done >= n or self.size <= 1:
                break
            child.retired = True
            self.size -= 1
            done += 1
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return done

    def request_resize(self, delta: int) -> None:
        """Ask for ``delta`` more (or fewer) children from any thread."""
        self._resize_requests.append(delta)

    def request_restart(self) -> None:
        """Replace every child from any thread (``pool_restart``): each finishes its
        tasks, exits and is forked again from this process, so modules reloaded here
        reach the new children."""
        self._restart_requested = True

    def _apply_restart(self) -> None:
        if self._restart_requested:
            self._restart_requested = False
            logger.info("Restarting %d pool processes", len(self.children))
            self.signal_children(signal.SIGTERM)

    def _apply_resizes(self) -> None:
        while self._resize_requests:
            delta = self._resize_requests.pop(0)
            if delta > 0:
                self.grow(delta)
            elif delta < 0:
                self.shrink(-delta)

    # -- supervision ---------------------------------------------------------------------
    def run(self) -> None:
        """Supervise until every child exited after :meth:`stop`."""
        while self.children:
            self._read_reports(0.2)
            self._reap()
            self._enforce_hard_limits()
            if not self.stopping:
                self._apply_resizes()
                self._apply_restart()
                if self.on_tick is not None:
                    self.on_tick()

    def _read_reports(self, timeout: float) -> None:
        conns = {child.conn: child for child in self.children.values()}
        try:
            ready = wait(list(conns), timeout)
        except InterruptedError:
            return
        for ready_conn in ready:
            child = conns[ready_conn]  # type: ignore[index]
            conn = child.conn
            try:
                while conn.poll():
                    self._on_report(child, conn.recv())
            except (EOFError, OSError):
                continue

    @staticmethod
    def _on_report(child: ChildProcess, report: ChildReport) -> None:
        child.info.take(report)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            self._drain(child)
            self._after_exit(child, status)

    def _drain(self, child: ChildProcess) -> None:
        try:
            while child.conn.poll():
                self._on_report(child, child.conn.recv())
        except (EOFError, OSError):
            pass
        child.conn.close()

    def _after_exit(self, child: ChildProcess, status: int) -> None:
        how = describe_status(status)
        for name, count in child.info.totals.items():
            self.retired_totals[name] = self.retired_totals.get(name, 0) + int(count)
        clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not clean:
            reason = child.killed_for or how
            if child.running:
                logger.error("Process '%s' pid:%d exited with '%s'", child.name, child.pid, reason)
            elif not self.stopping:
                logger.warning(
                    "Process '%s' pid:%d exited with '%s'", child.name, child.pid, reason
                )
            if self.on_aborted is not None:  # also gives back what it had only prefetched
                self.on_aborted(child, reason)
        if child.table is not None:
            child.table.close()
            child.table = None
        if not self.stopping and not child.retired and not (clean and child.info.drained):
            self._fork(child.index)

    def _enforce_hard_limits(self) -> None:
        now = time.time()
        for child in list(self.children.values()):
            for task in child.running.values():
                limit = task.hard_limit
                if limit and now - task.time > limit + HARD_LIMIT_GRACE:
                    logger.error(
                        "Hard time limit (%ss) exceeded for %s[%s]: killing %s pid:%d",
                        limit,
                        task.name,
                        task.id,
                        child.name,
                        child.pid,
                    )
                    child.killed_for = f"hard time limit ({limit}s) exceeded"
                    try:
                        os.kill(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    break
