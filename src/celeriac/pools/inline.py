"""InlineRunner: short sync task bodies run on the loop's own thread, leases kept by a watchdog.

Handing a sync body to a task thread and back costs two thread wake-ups and two GIL
hand-offs, about 0.5 ms: more than a short body itself (docs/benchmarks.md). A prefork
child runs one sync body at a time anyway, so it can run a body on its loop thread
instead, once that task has proven short. While such a body runs the loop cannot renew
leases, so a watchdog thread renews the running message's lease through the
transport's blocking API if the body outlives one renewal period; a long task is still
never handed to a second worker (DESIGN decision 5). Hard time limits stay with the
parent, which kills the child; bodies with a soft time limit always use the task thread.
"""

from __future__ import annotations

import asyncio.events
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from celeriac.utils.log import own_logger

__all__ = ["InlineRunner"]

logger = own_logger(__name__)

T = TypeVar("T")


class InlineRunner:
    """Decides which task names run inline, runs them, and guards their leases meanwhile.

    A task name runs inline after ``promote_after`` runs in a row on the task thread each
    took less than ``short`` seconds. An inline run longer than ``long`` sends the name
    back to the task thread for good (its next long run must not stall the loop).

    Args:
        renew: renews leases from any thread (``Transport.renew_blocking``).
        period: seconds between two renewals of a running body's lease.
    """

    short = 0.005
    promote_after = 5
    long = 0.25

    def __init__(self, renew: Callable[[Sequence[Any]], None], period: float) -> None:
        self._renew = renew
        self.period = period
        self._short_runs: dict[str, int] = {}
        self._demoted: set[str] = set()
        #: (monotonic start, leases) of the body running now, read by the watchdog
        self._current: tuple[float, Sequence[Any]] | None = None
        self._wake = threading.Condition()
        self._watchdog: threading.Thread | None = None
        self._closed = False

    # -- policy ---------------------------------------------------------------------
    def allows(self, name: str) -> bool:
        """True when ``name`` has proven short and may run inline."""
        return self._short_runs.get(name, 0) >= self.promote_after and name not in self._demoted

    def record(self, name: str, runtime: float, *, inline: bool) -> None:
        """Learn from one run of ``name`` that took ``runtime`` seconds."""
        if name in self._demoted:
            return
        if inline:
            if runtime > self.long:
                self._demoted.add(name)
                logger.info(
                    "Task %s ran %.3fs on the loop thread: it runs on the task thread from now on",
                    name,
                    runtime,
                )
            return
        if runtime < self.short:
            self._short_runs[name] = self._short_runs.get(name, 0) + 1
        else:
            self._short_runs[name] = 0

    # -- running --------------------------------------------------------------------
    def run(self, fun: Callable[[], T], leases: Sequence[Any]) -> T:
        """Call ``fun`` on this thread with no running loop set; renew ``leases`` if slow.

        With the running loop unset, a body can use ``asyncio.run()`` or a blocking
        ``AsyncResult.get()`` exactly as it could on a task thread.
        """
        if self._watchdog is None:
            self._start_watchdog()
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        self._current = (time.monotonic(), leases)
        try:
            return fun()
        finally:
            self._current = None
            asyncio.events._set_running_loop(loop)

    def close(self) -> None:
        """Stop the watchdog thread."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def _start_watchdog(self) -> None:
        self._watchdog = threading.Thread(
            target=self._watch, name="celeriac-inline-watchdog", daemon=True
        )
        self._watchdog.start()

    def _watch(self) -> None:
        renewed: tuple[float, Sequence[Any]] | None = None
        last = 0.0
        while True:
            with self._wake:
                if self._closed:
                    return
                self._wake.wait(self.period / 2)
                if self._closed:
                    return
            current = self._current
            if current is None:
                continue
            now = time.monotonic()
            since = last if renewed is current else current[0]
            if now - since < self.period:
                continue
            try:
                self._renew(current[1])
                renewed, last = current, now
                logger.info(
                    "Renewed the lease of a sync body running on the loop thread for %.1fs",
                    now - current[0],
                )
            except Exception as exc:
                logger.warning("Renewing the lease of a running body failed: %r", exc)
