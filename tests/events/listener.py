"""A receiver on a thread that collects events for a test, with a State fed alongside."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from celeriac import Celery
from celeriac.events import State


class Listener:
    """``with Listener(app) as events:`` … ``events.wait_for(lambda seen: …)``."""

    def __init__(self, app: Celery, *, wakeup: bool = False, routing_key: str = "#") -> None:
        self.app = app
        self.events: list[dict[str, Any]] = []
        self.state = State()
        self._lock = threading.Lock()
        self._receiver = app.events.Receiver(
            handlers={"*": self._on_event}, routing_key=routing_key
        )
        self._wakeup = wakeup
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._subscribed = threading.Event()
        self.error: BaseException | None = None

    def _on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)
        self.state.event(event)

    def _run(self) -> None:
        try:
            for _ in self._receiver.itercapture(timeout=None, wakeup=self._wakeup):
                pass
        except BaseException as exc:  # surfaced by wait_for
            self.error = exc

    def __enter__(self) -> Listener:
        self._thread.start()
        # subscribed (PSUBSCRIBE / SQLite start row) before anyone sends
        if not self._receiver.consuming.wait(15):
            raise AssertionError(f"the receiver did not subscribe: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._receiver.should_stop = True
        self._thread.join(5)

    def types(self, hostname: str | None = None) -> list[str]:
        """The event types seen so far (of one sender)."""
        with self._lock:
            return [str(e["type"]) for e in self.events if hostname in (None, e.get("hostname"))]

    def of(self, type_: str) -> list[dict[str, Any]]:
        """The events of one type seen so far."""
        with self._lock:
            return [e for e in self.events if e["type"] == type_]

    def wait_for(self, check: Callable[[list[str]], bool], timeout: float = 15.0) -> list[str]:
        """Wait until ``check(types)`` holds; return the types (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            types = self.types()
            if check(types):
                return types
            time.sleep(0.05)
        raise AssertionError(f"events not seen in {timeout}s; got {self.types()}")
