"""The Lamport clock a process stamps its events and control messages with (``app.clock``)."""

from __future__ import annotations

import threading

__all__ = ["LamportClock"]


class LamportClock:
    """A logical clock: :meth:`forward` before sending, :meth:`adjust` on receiving.

    Thread-safe: a worker's heartbeat thread and its event loop share one.
    """

    __slots__ = ("_lock", "value")

    def __init__(self, initial: int = 0) -> None:
        self.value = initial
        self._lock = threading.Lock()

    def forward(self) -> int:
        """Advance for an event sent now; return the new value."""
        with self._lock:
            self.value += 1
            return self.value

    def adjust(self, other: int) -> int:
        """Take in a received clock: ``max(local, other) + 1``; return the new value."""
        with self._lock:
            self.value = max(self.value, other) + 1
            return self.value

    def __repr__(self) -> str:
        return f"<LamportClock: {self.value}>"
