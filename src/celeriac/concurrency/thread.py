"""Celery's ``celery.concurrency.thread``: run targets on a thread pool."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from celeriac.concurrency.base import BasePool, apply_target

__all__ = ["ApplyResult", "TaskPool"]


class ApplyResult:
    """One submitted target: ``wait(timeout)`` and ``get()``."""

    def __init__(self, future: Future[Any]) -> None:
        self.f = future
        self.get = self.f.result

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the target ran (or ``timeout`` seconds)."""
        wait([self.f], timeout)


class TaskPool(BasePool):
    """Thread pool of ``limit`` threads."""

    body_can_be_buffer = True
    signal_safe = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executor = ThreadPoolExecutor(max_workers=self.limit)

    def on_stop(self) -> None:
        """Wait for running targets and stop the threads."""
        self.executor.shutdown()

    def on_apply(
        self,
        target: Any,
        args: Any = None,
        kwargs: Any = None,
        callback: Any = None,
        accept_callback: Any = None,
        **_: Any,
    ) -> ApplyResult:
        """Submit the target; ``callback`` runs in the pool thread with its result."""
        future = self.executor.submit(
            apply_target, target, args or (), kwargs, callback, accept_callback
        )
        return ApplyResult(future)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info.update({"max-concurrency": self.limit, "threads": len(self.executor._threads)})
        return info
