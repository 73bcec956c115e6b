"""Celery's signal objects: a compatibility façade fed by ``middleware.signals``."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "Signal",
    "after_task_publish",
    "beat_embedded_init",
    "beat_init",
    "before_task_publish",
    "celeryd_after_setup",
    "celeryd_init",
    "import_modules",
    "setup_logging",
    "task_failure",
    "task_internal_error",
    "task_postrun",
    "task_prerun",
    "task_received",
    "task_rejected",
    "task_retry",
    "task_revoked",
    "task_success",
    "task_unknown",
    "worker_init",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "worker_shutdown",
    "worker_shutting_down",
]

logger = logging.getLogger(__name__)


class Signal:
    """A named hook users connect receivers to (``@task_success.connect``).

    Receivers are called as ``receiver(signal=..., sender=..., **named)``; an error
    in one receiver is logged and does not stop the others.
    """

    def __init__(self, name: str, providing_args: Any = None) -> None:
        self.name = name
        self._receivers: list[tuple[Any, Any, bool]] = []
        self._lock = threading.Lock()

    def connect(
        self,
        receiver: Callable[..., Any] | None = None,
        *,
        sender: Any = None,
        weak: bool = False,
        dispatch_uid: Any = None,
        **_: Any,
    ) -> Any:
        """Connect a receiver; usable as ``@signal.connect`` or ``@signal.connect(sender=...)``."""
        if receiver is None:
            return lambda fun: self.connect(fun, sender=sender, weak=weak)
        ref: Any = (
            weakref.WeakMethod(receiver)
            if weak and hasattr(receiver, "__self__")
            else (weakref.ref(receiver) if weak else receiver)
        )
        with self._lock:
            self._receivers.append((ref, sender, weak))
        return receiver

    def disconnect(self, receiver: Callable[..., Any], sender: Any = None, **_: Any) -> bool:
        """Remove a receiver; returns whether it was connected."""
        with self._lock:
            before = len(self._receivers)
            self._receivers = [
                entry
                for entry in self._receivers
                if (entry[0]() if entry[2] else entry[0]) is not receiver
            ]
            return len(self._receivers) != before

    @property
    def receivers(self) -> list[Any]:
        """The connected receivers (live ones)."""
        return [entry for entry in self._receivers if not entry[2] or entry[0]() is not None]

    def send(self, sender: Any = None, **named: Any) -> list[tuple[Any, Any]]:
        """Call every receiver connected for this sender; return ``(receiver, result)`` pairs."""
        if not self._receivers:
            return []
        responses: list[tuple[Any, Any]] = []
        for ref, wanted, weak in list(self._receivers):
            receiver = ref() if weak else ref
            if receiver is None or (
                wanted is not None
                and wanted is not sender
                and wanted != getattr(sender, "name", sender)
            ):
                continue
            try:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except Exception as exc:
                logger.exception("Signal handler %r for %s raised: %r", receiver, self.name, exc)
                responses.append((receiver, exc))
        return responses

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"


before_task_publish = Signal("before_task_publish")
after_task_publish = Signal("after_task_publish")
task_received = Signal("task_received")
task_prerun = Signal("task_prerun")
task_postrun = Signal("task_postrun")
task_success = Signal("task_success")
task_retry = Signal("task_retry")
task_failure = Signal("task_failure")
task_internal_error = Signal("task_internal_error")
task_revoked = Signal("task_revoked")
task_rejected = Signal("task_rejected")
task_unknown = Signal("task_unknown")
celeryd_init = Signal("celeryd_init")
celeryd_after_setup = Signal("celeryd_after_setup")
import_modules = Signal("import_modules")
worker_init = Signal("worker_init")
worker_process_init = Signal("worker_process_init")
worker_process_shutdown = Signal("worker_process_shutdown")
worker_ready = Signal("worker_ready")
worker_shutting_down = Signal("worker_shutting_down")
worker_shutdown = Signal("worker_shutdown")
setup_logging = Signal("setup_logging")
beat_init = Signal("beat_init")
beat_embedded_init = Signal("beat_embedded_init")
