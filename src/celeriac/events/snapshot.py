"""Celery's ``celery.events.snapshot``: cameras that photograph the cluster's state.

A camera is a :class:`Polaroid` subclass whose :meth:`Polaroid.on_shutter` gets the
:class:`~celeriac.events.state.State` every ``freq`` seconds (at most ``maxrate``:
``"10/m"``), e.g. to write task rows to a database; :meth:`Polaroid.on_cleanup` runs every
``cleanup_freq`` seconds and the state's finished tasks are cleared after it.
``celeriac events -c pkg.mod:Camera --frequency 2`` runs :func:`evcam`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celeriac.events.state import State
from celeriac.signals import Signal
from celeriac.utils.imports import symbol_by_name
from celeriac.utils.time import rate

__all__ = ["Polaroid", "evcam"]

logger = logging.getLogger("celery.events.snapshot")


class Polaroid:
    """Takes a snapshot of ``state`` every ``freq`` seconds (override :meth:`on_shutter`).

    Args:
        state: the events state the receiver keeps up to date.
        freq: seconds between shots.
        maxrate: at most this many shots (``"10/m"``, ``"1/s"``; ``None``: no limit).
        cleanup_freq: seconds between :meth:`cleanup` calls.
        timer: accepted for Celery's signature (a thread of its own takes the shots).
        app: the app.
    """

    #: sent with the state at each shot (``sender=self``), as in Celery
    shutter_signal = Signal(name="shutter", providing_args={"state"})
    #: sent at each cleanup
    cleanup_signal = Signal(name="cleanup")
    clear_after = False

    def __init__(
        self,
        state: State,
        freq: float = 1.0,
        maxrate: str | float | None = None,
        cleanup_freq: float = 3600.0,
        timer: Any = None,
        app: Any = None,
    ) -> None:
        self.app = app
        self.state = state
        self.freq = float(freq)
        self.cleanup_freq = float(cleanup_freq)
        self.maxrate = maxrate
        per_second = rate(maxrate) if maxrate else 0.0
        self._min_gap = 1.0 / per_second if per_second else 0.0
        self._last_shot = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.timer = timer

    def install(self) -> None:
        """Start taking shots (every ``freq`` seconds) and cleaning up, on a thread."""
        self._thread = threading.Thread(target=self._run, name="celeriac-camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_cleanup = time.monotonic() + self.cleanup_freq
        while not self._stop.wait(self.freq):
            self.capture()
            if time.monotonic() >= next_cleanup:
                self.cleanup()
                next_cleanup = time.monotonic() + self.cleanup_freq

    def on_shutter(self, state: State) -> None:
        """Override: do something with the state (called at each shot)."""

    def on_cleanup(self) -> None:
        """Override: called at each cleanup."""

    def cleanup(self) -> None:
        """Run :meth:`on_cleanup`, then forget the finished tasks."""
        logger.debug("Cleanup: Running...")
        self.cleanup_signal.send(sender=self.state)
        self.on_cleanup()
        self.state.clear_tasks(ready=True)

    def shutter(self) -> None:
        """Take one shot (unless ``maxrate`` says it is too soon)."""
        now = time.monotonic()
        if self._min_gap and now - self._last_shot < self._min_gap:
            return
        self._last_shot = now
        self.shutter_signal.send(sender=self.state)
        self.on_shutter(self.state)

    def capture(self) -> None:
        """Take one shot with the state frozen (and cleared after, if ``clear_after``)."""
        self.state.freeze_while(self.shutter, clear_after=self.clear_after)

    def cancel(self) -> None:
        """Stop taking shots."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.freq + 5)

    def __enter__(self) -> Polaroid:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


def evcam(
    camera: str | type[Polaroid],
    freq: float = 1.0,
    maxrate: str | float | None = None,
    loglevel: int | str = 0,
    logfile: str | None = None,
    pidfile: str | None = None,
    timer: Any = None,
    app: Any = None,
    limit: int | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> State:
    """Run the ``camera`` class on the app's events until interrupted (or ``limit``
    events, or ``timeout`` seconds without one); return the state it photographed."""
    if app is None:
        from celeriac.execution.context import get_current_app

        app = get_current_app()
    cls = symbol_by_name(camera)
    state = app.events.State()
    cam = cls(state, app=app, freq=freq, maxrate=maxrate, timer=timer)
    cam.install()
    receiver = app.events.Receiver(handlers={"*": state.event})
    logger.info("-> evcam: Taking snapshots with %s (every %.1f secs.)", cls.__name__, freq)
    try:
        receiver.capture(limit=limit, timeout=timeout, wakeup=True)
    except (KeyboardInterrupt, TimeoutError):
        pass
    finally:
        cam.cancel()
        cam.capture()  # a last shot with what came in since the previous one
    return state  # type: ignore[no-any-return]
