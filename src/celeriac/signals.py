"""Celery's signal objects: a compatibility façade fed by ``middleware.signals``."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar, overload

__all__ = [
    "Signal",
    "after_setup_logger",
    "after_setup_task_logger",
    "after_task_publish",
    "beat_embedded_init",
    "beat_init",
    "before_task_publish",
    "celeryd_after_setup",
    "celeryd_init",
    "heartbeat_sent",
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
    "worker_before_create_process",
    "worker_init",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "worker_shutdown",
    "worker_shutting_down",
]

logger = logging.getLogger("celery.signals")  # Celery's tree (see utils.log)


#: A signal receiver: called as ``receiver(signal=..., sender=..., **named)``.
Receiver = Callable[..., object]
F = TypeVar("F", bound=Receiver)
#: How a receiver is held: itself, or a weak reference to it (``weak=True``).
_Held = tuple[Receiver | weakref.ref[Receiver], object, bool]


def _same(held: Receiver | None, receiver: Receiver | None) -> bool:
    """Whether two receivers are one: the same function, or bound methods of the same
    function on the same instance (each attribute access makes a new method object)."""
    if held is receiver:
        return True
    owner = getattr(receiver, "__self__", None)
    return (
        owner is not None
        and getattr(held, "__self__", None) is owner
        and getattr(held, "__func__", None) is getattr(receiver, "__func__", None)
    )


class Signal:
    """A named hook users connect receivers to (``@task_success.connect``).

    Receivers are called as ``receiver(signal=..., sender=..., **named)``; an error
    in one receiver is logged and does not stop the others.
    """

    def __init__(self, name: str, providing_args: object = None) -> None:
        self.name = name
        #: (receiver or weak reference, wanted sender, held weakly)
        self._receivers: list[_Held] = []
        #: (dispatch_uid, sender id) -> the entry connected under it
        self._uids: dict[tuple[object, int], _Held] = {}
        self._lock = threading.Lock()

    @overload
    def connect(
        self,
        receiver: F,
        *,
        sender: object = ...,
        weak: bool = ...,
        dispatch_uid: object = ...,
        **_: object,
    ) -> F: ...

    @overload
    def connect(
        self,
        receiver: None = ...,
        *,
        sender: object = ...,
        weak: bool = ...,
        dispatch_uid: object = ...,
        **_: object,
    ) -> Callable[[F], F]: ...

    def connect(
        self,
        receiver: F | None = None,
        *,
        sender: object = None,
        weak: bool = False,
        dispatch_uid: object = None,
        **_: object,
    ) -> F | Callable[[F], F]:
        """Connect a receiver; usable as ``@signal.connect`` or ``@signal.connect(sender=...)``.

        A receiver connected with a ``dispatch_uid`` is connected once per uid and sender
        (connecting again is a no-op), and :meth:`disconnect` can remove it by the uid.
        """
        if receiver is None:

            def decorate(fun: F) -> F:
                return self.connect(fun, sender=sender, weak=weak, dispatch_uid=dispatch_uid)

            return decorate
        held: Receiver | weakref.ref[Receiver] = receiver
        if weak:
            held = (
                weakref.WeakMethod(receiver)  # a bound method
                if hasattr(receiver, "__self__")
                else weakref.ref(receiver)
            )
        entry: _Held = (held, sender, weak)
        with self._lock:
            if dispatch_uid is not None:
                key = (dispatch_uid, id(sender))
                if key in self._uids and self._uids[key] in self._receivers:
                    return receiver
                self._uids[key] = entry
            elif any(_same(self._live(e), receiver) and e[1] is sender for e in self._receivers):
                return receiver  # connected once per receiver and sender, as in Celery
            self._receivers.append(entry)
        return receiver

    @staticmethod
    def _live(entry: _Held) -> Receiver | None:
        held, _, weak = entry
        if weak and isinstance(held, weakref.ref):
            return held()
        return held

    def disconnect(
        self,
        receiver: Receiver | None = None,
        sender: object = None,
        weak: object = None,
        dispatch_uid: object = None,
        **_: object,
    ) -> bool:
        """Remove a receiver, or the one connected under ``dispatch_uid`` (and
        ``sender``); returns whether one was connected."""
        with self._lock:
            before = len(self._receivers)
            if dispatch_uid is not None:
                found = self._uids.pop((dispatch_uid, id(sender)), None)
                self._receivers = [e for e in self._receivers if e is not found]
            else:
                self._receivers = [e for e in self._receivers if not _same(self._live(e), receiver)]
                self._uids = {k: e for k, e in self._uids.items() if e in self._receivers}
            return len(self._receivers) != before

    @property
    def receivers(self) -> list[_Held]:
        """The connected receivers (live ones)."""
        return [entry for entry in self._receivers if self._live(entry) is not None]

    def send(self, sender: object = None, **named: object) -> list[tuple[Receiver, object]]:
        """Call every receiver connected for this sender; return ``(receiver, result)`` pairs."""
        if not self._receivers:
            return []
        responses: list[tuple[Receiver, object]] = []
        for entry in list(self._receivers):
            receiver = self._live(entry)
            wanted = entry[1]
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
after_setup_logger = Signal("after_setup_logger")
after_setup_task_logger = Signal("after_setup_task_logger")
worker_before_create_process = Signal("worker_before_create_process")
beat_init = Signal("beat_init")
beat_embedded_init = Signal("beat_embedded_init")
#: Sent by a worker node after each of its ``worker-online/-heartbeat/-offline`` events.
heartbeat_sent = Signal("heartbeat_sent")
