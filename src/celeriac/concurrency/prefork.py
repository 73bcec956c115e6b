"""Celery's ``celery.concurrency.prefork``: run targets in child processes.

celeriac's worker runs its own prefork pool (each child a complete consumer); this
``TaskPool`` is Celery's standalone API over :class:`concurrent.futures.ProcessPoolExecutor`
(targets and their arguments must pickle). ``process_initializer`` and
``process_destructor`` send ``worker_process_init`` and ``worker_process_shutdown`` as
Celery's do.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from celeriac.concurrency.base import BasePool, apply_target
from celeriac.concurrency.thread import ApplyResult
from celeriac.execution.context import set_current_app
from celeriac.signals import worker_process_init, worker_process_shutdown

__all__ = ["TaskPool", "process_destructor", "process_initializer"]


def process_initializer(app: Any, hostname: str | None) -> None:
    """Set up a pool child: ``app`` becomes current, ``worker_process_init`` is sent."""
    if app is not None:
        set_current_app(app)
    worker_process_init.send(sender=None)


def process_destructor(pid: int, exitcode: int) -> None:
    """A pool child exited: send ``worker_process_shutdown(pid=, exitcode=)``."""
    worker_process_shutdown.send(sender=None, pid=pid, exitcode=exitcode)


class TaskPool(BasePool):
    """Process pool of ``limit`` children; ``initargs=(app, hostname)`` initialises each."""

    uses_semaphore = True
    write_stats: Any = None

    def on_start(self) -> None:
        """Start the executor (children fork on first use)."""
        initargs = self.options.get("initargs")
        self._pool = ProcessPoolExecutor(
            max_workers=self.limit,
            mp_context=multiprocessing.get_context("fork"),
            initializer=process_initializer if initargs else None,
            initargs=tuple(initargs or ()),
        )

    def on_stop(self) -> None:
        """Wait for running targets, then stop the children."""
        self._pool.shutdown(wait=True)

    def on_terminate(self) -> None:
        """Stop the children now (running targets are lost)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def on_apply(
        self,
        target: Any,
        args: Any = None,
        kwargs: Any = None,
        callback: Any = None,
        accept_callback: Any = None,
        **_: Any,
    ) -> ApplyResult:
        """Run the target in a child; ``callback`` runs in the parent with its result."""
        future = self._pool.submit(_call, target, list(args or ()), dict(kwargs or {}))
        if accept_callback is not None:
            accept_callback(os.getpid(), 0.0)
        if callback is not None:
            future.add_done_callback(lambda f: f.exception() or callback(f.result()))
        return ApplyResult(future)

    @property
    def num_processes(self) -> int:
        """The number of children."""
        return self.limit

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"max-concurrency": self.limit, "processes": self.limit})
        return info


def _call(target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    box: list[Any] = []
    apply_target(target, args, kwargs, box.append)
    return box[0] if box else None
