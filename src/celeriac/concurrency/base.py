"""Celery's ``celery.concurrency.base``: the pool interface and ``apply_target``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from celeriac.exceptions import WorkerLostError, WorkerShutdown, WorkerTerminate

__all__ = ["BasePool", "apply_target"]

logger = logging.getLogger("celery.concurrency")


def apply_target(
    target: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    callback: Callable[[Any], object] | None = None,
    accept_callback: Callable[[int, float], object] | None = None,
    pid: int | None = None,
    getpid: Callable[[], int] = os.getpid,
    propagate: tuple[type[BaseException], ...] = (),
    monotonic: Callable[[], float] = time.monotonic,
    **_: Any,
) -> None:
    """Run ``target(*args, **kwargs)`` and pass its return value to ``callback``.

    ``accept_callback(pid, time)`` is called first. Exceptions propagate; any other
    ``BaseException`` (not worker shutdown) becomes a :exc:`WorkerLostError` handed to
    ``callback``, as in Celery.
    """
    if accept_callback:
        accept_callback(pid or getpid(), monotonic())
    try:
        ret = target(*args, **dict(kwargs or {}))
    except propagate:
        raise
    except (Exception, WorkerShutdown, WorkerTerminate):
        raise
    except BaseException as exc:
        if callback is not None:
            callback(WorkerLostError(repr(exc)))
    else:
        if callback is not None:
            callback(ret)


class BasePool:
    """A pool that runs callables: ``start()``, ``apply_async(...)``, ``stop()``."""

    RUN = 0x1
    CLOSE = 0x2
    TERMINATE = 0x3

    Timer: Any = None
    signal_safe = True
    is_green = False
    uses_semaphore = False
    task_join_will_block = True
    body_can_be_buffer = False

    def __init__(
        self,
        limit: int | None = None,
        putlocks: bool = True,
        forking_enable: bool = True,
        callbacks_propagate: tuple[type[BaseException], ...] = (),
        app: Any = None,
        **options: Any,
    ) -> None:
        self.limit = limit or os.cpu_count() or 1
        self.putlocks = putlocks
        self.options = options
        self.forking_enable = forking_enable
        self.callbacks_propagate = callbacks_propagate
        self.app = app
        self._state: int | None = None

    def on_start(self) -> None:
        """Hook: start the pool's resources."""

    def did_start_ok(self) -> bool:
        """Whether the pool started."""
        return True

    def flush(self) -> None:
        """Hook: flush pending work."""

    def on_stop(self) -> None:
        """Hook: stop the pool's resources, waiting for running work."""

    def register_with_event_loop(self, loop: Any) -> None:
        """Hook: celeriac's pools need no event-loop registration."""

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        """Run one target (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_apply")

    def on_terminate(self) -> None:
        """Hook: stop now."""

    def on_soft_timeout(self, job: Any) -> None:
        """Hook: a job reached its soft time limit."""

    def on_hard_timeout(self, job: Any) -> None:
        """Hook: a job reached its hard time limit."""

    def maintain_pool(self, *args: Any, **kwargs: Any) -> None:
        """Hook: replace lost workers."""

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """Stop one running job (not supported by this pool)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement terminate_job")

    def restart(self) -> None:
        """Restart the pool (not supported by this pool)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement restart")

    def stop(self) -> None:
        """Stop, waiting for running work."""
        self.on_stop()
        self._state = self.TERMINATE

    def terminate(self) -> None:
        """Stop now."""
        self._state = self.TERMINATE
        self.on_terminate()

    def start(self) -> None:
        """Start the pool."""
        self._does_debug = logger.isEnabledFor(logging.DEBUG)
        self.on_start()
        self._state = self.RUN

    def close(self) -> None:
        """Refuse new work."""
        self._state = self.CLOSE
        self.on_close()

    def on_close(self) -> None:
        """Hook: the pool was closed."""

    def apply_async(
        self,
        target: Callable[..., Any],
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Run ``target`` in the pool; ``callback=`` receives its return value."""
        return self.on_apply(
            target,
            list(args or []),
            dict(kwargs or {}),
            waitforslot=self.putlocks,
            callbacks_propagate=self.callbacks_propagate,
            **options,
        )

    def _get_info(self) -> dict[str, Any]:
        return {
            "implementation": f"{type(self).__module__}:{type(self).__name__}",
            "max-concurrency": self.limit,
        }

    @property
    def info(self) -> dict[str, Any]:
        """Configuration and statistics (JSON-friendly)."""
        return self._get_info()

    @property
    def active(self) -> bool:
        """Whether the pool is running."""
        return self._state == self.RUN

    @property
    def num_processes(self) -> int:
        """The pool's concurrency."""
        return self.limit
