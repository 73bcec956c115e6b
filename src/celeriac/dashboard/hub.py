"""Live updates to the browsers: each subscriber (one SSE stream) gets its own bounded queue.

A subscriber that falls behind loses updates rather than slowing the ingest loop; it is
told so (``{"type": "resync"}``) and reloads its table.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Hub", "Update"]

#: One update: ``{"type": "tasks", "tasks": [...]}`` or ``{"type": "workers", ...}``.
Update = dict[str, object]


class Hub:
    """Fan updates out to every subscriber's queue."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Update]] = set()

    def subscribe(self) -> asyncio.Queue[Update]:
        """A new queue that receives every update from now on."""
        queue: asyncio.Queue[Update] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Update]) -> None:
        """Stop sending to ``queue``."""
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def publish(self, update: Update) -> None:
        """Queue ``update`` for every subscriber (a full queue is emptied and told to resync)."""
        for queue in self._subscribers:
            try:
                queue.put_nowait(update)
            except asyncio.QueueFull:
                while not queue.empty():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait({"type": "resync"})
