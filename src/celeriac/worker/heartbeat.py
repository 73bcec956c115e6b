"""NodeEvents: a worker node's own events (``worker-online``, ``-heartbeat``, ``-offline``)
and the switch for its task events.

The node (the prefork parent, or the only process of ``-P threads``/``solo``) sends
``worker-online`` when it is ready, a ``worker-heartbeat`` every ``freq`` seconds from a
thread of its own, and ``worker-offline`` last when it stops; each carries ``freq``,
``active`` (tasks running now), ``processed`` (tasks started so far), ``loadavg`` and the
software fields. ``enable_events``/``disable_events`` switch the task events of every
process of the node: in prefork the parent relays the change to its children.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac.events import EventDispatcher
from celeriac.signals import heartbeat_sent
from celeriac.worker.task_events import TaskEvents, install_task_events

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["SW_IDENT", "NodeEvents", "load_average", "software_info"]

logger = logging.getLogger("celery.events")

#: ``sw_ident`` of celeriac workers (Celery's are ``py-celery``).
SW_IDENT = "py-celeriac"

#: ``(active, processed)`` of the node now.
Stats = Callable[[], tuple[int, int]]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 2 decimals (zeros where unknown)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return [0.0, 0.0, 0.0]


def software_info() -> dict[str, str]:
    """``sw_ident``, ``sw_ver`` and ``sw_sys`` as a worker event carries them."""
    from celeriac import __version__

    return {"sw_ident": SW_IDENT, "sw_ver": __version__, "sw_sys": platform.system()}


class NodeEvents:
    """The events of one worker node (see the module).

    Args:
        app: the worker's app.
        hostname: the node name.
        task_events: send task events from the start (``-E``).
        heartbeat: send ``worker-*`` events (False: ``--without-heartbeat``).
        freq: seconds between heartbeats.
        relay: called with ``(method, arguments)`` to tell the node's other processes
            (prefork children) about ``enable_events``/``disable_events``.
    """

    def __init__(
        self,
        app: Celery,
        hostname: str,
        *,
        task_events: bool = False,
        heartbeat: bool = True,
        freq: float = 2.0,
        relay: Callable[[str, dict[str, Any]], object] | None = None,
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.freq = float(freq)
        self.heartbeat_enabled = heartbeat
        self.relay = relay
        self.stats: Stats = lambda: (0, 0)
        self.task_events: TaskEvents = install_task_events(app, enabled=task_events)
        self.dispatcher: EventDispatcher | None = None
        self._software: dict[str, Any] = dict(software_info())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- worker events -------------------------------------------------------------------
    def _send(self, type_: str, freq: float | None = None) -> None:
        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        try:
            active, processed = self.stats()
        except Exception as exc:  # a child's table closing under us: report zeros
            logger.debug("worker stats unavailable: %r", exc)
            active, processed = 0, 0
        dispatcher.send(
            type_,
            freq=self.freq if freq is None else freq,
            active=active,
            processed=processed,
            loadavg=load_average(),
            **self._software,
        )
        heartbeat_sent.send(sender=self)

    def start(self, stats: Stats | None = None) -> None:
        """Send ``worker-online`` and start the heartbeat thread (call in the node's process,
        after any fork: the dispatcher's connection belongs to this process)."""
        if stats is not None:
            self.stats = stats
        # The parent's dispatcher also reports the tasks of children that died (finish_lost).
        self.dispatcher = EventDispatcher(self.app, self.hostname)
        self.task_events.attach(self.hostname, self.dispatcher)
        if not self.heartbeat_enabled:
            return
        self._send("worker-online")
        self._thread = threading.Thread(target=self._beat, name="celeriac-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.freq):
            self._send("worker-heartbeat")

    def heartbeat(self) -> None:
        """A heartbeat now (the ``heartbeat`` control command; Celery says ``freq`` 5)."""
        if self.heartbeat_enabled:
            self._send("worker-heartbeat", freq=5.0)

    def stop(self) -> None:
        """Stop the heartbeats and send ``worker-offline`` (last)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self.heartbeat_enabled and self.dispatcher is not None:
            self._send("worker-offline")
        if self.dispatcher is not None:
            self.dispatcher.close()

    # -- task events switch ------------------------------------------------------------------
    def set_task_events(self, enabled: bool) -> bool:
        """Switch the node's task events; False when they already were so."""
        changed = self.task_events.enabled != enabled
        self.task_events.enabled = enabled
        if changed and self.relay is not None:
            self.relay("enable_events" if enabled else "disable_events", {})
        return changed
