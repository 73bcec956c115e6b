"""Celery's ``celery.events.dumper``: events as Celery's ``celery events --dump`` lines.

``<host> [<utc time>] <what>: <task> <fields>``; :func:`evdump` prints them for the app's
events until interrupted (``celeriac events --dump``).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["Dumper", "evdump", "humanize_type"]

Event = dict[str, Any]

#: Celery's words for the worker events in ``--dump`` lines.
HUMAN_TYPES = {
    "worker-offline": "shutdown",
    "worker-online": "started",
    "worker-heartbeat": "heartbeat",
}
#: Task names remembered for events that do not carry one (by task id).
NAMES_KEPT = 4095


class _Names(OrderedDict[str, str]):
    def remember(self, uuid: str, text: str) -> None:
        self[uuid] = text
        if len(self) > NAMES_KEPT:
            self.popitem(last=False)


def humanize_type(type_: str) -> str:
    """``worker-online`` → ``started``, ``task-succeeded`` → ``task succeeded``."""
    return HUMAN_TYPES.get(type_.lower(), type_.lower().replace("-", " "))


class Dumper:
    """Celery's ``--dump`` lines: ``<host> [<utc time>] <what>: <task> <fields>``.

    Called with an event it returns the line; :meth:`on_event` writes it to ``out``.
    """

    def __init__(self, out: IO[str] | None = None) -> None:
        self.names = _Names()
        self.out = out if out is not None else sys.stdout

    def say(self, msg: str) -> None:
        """Write one line to ``out``."""
        print(msg, file=self.out, flush=True)

    def on_event(self, ev: Event) -> None:
        """Write the event's line."""
        self.say(self(ev))

    def __call__(self, event: Event) -> str:
        ev = dict(event)
        ev.pop("local_received", None)
        timestamp = datetime.fromtimestamp(float(ev.pop("timestamp", 0.0)), UTC)
        type_ = str(ev.pop("type", "")).lower()
        hostname = ev.pop("hostname", "")
        if type_.startswith("task-"):
            uuid = str(ev.pop("uuid", ""))
            if type_ in ("task-received", "task-sent"):
                task = f"{ev.pop('name', None)}({uuid}) args={ev.pop('args', None)} "
                task += f"kwargs={ev.pop('kwargs', None)}"
                self.names.remember(uuid, task)
            else:
                task = self.names.get(uuid, "")
            fields = ", ".join(f"{key}={ev[key]}" for key in sorted(ev))
            sep = ":" if fields else ""
            return f"{hostname} [{timestamp}] {humanize_type(type_)}{sep} {task} {fields}"
        fields = ", ".join(f"{key}={ev[key]}" for key in sorted(ev))
        sep = ":" if fields else ""
        return f"{hostname} [{timestamp}] {humanize_type(type_)}{sep} {fields}"


def evdump(app: Any = None, out: IO[str] | None = None, limit: int | None = None,
           timeout: float | None = None) -> None:  # fmt: skip
    """Print the app's events as ``--dump`` lines until interrupted (or ``limit`` events,
    or ``timeout`` seconds without one)."""
    if app is None:
        from celeriac.execution.context import get_current_app

        app = get_current_app()
    dumper = Dumper(out=out)
    dumper.say("-> evdump: starting capture...")
    receiver = app.events.Receiver(handlers={"*": dumper.on_event})
    try:
        receiver.capture(limit=limit, timeout=timeout, wakeup=True)
    except (KeyboardInterrupt, TimeoutError):
        pass
