"""Dead letters of a ``memory://`` broker: list by queue, requeue, discard (by the id each
got when it was parked)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import loads_envelope
from celeriac.transports.base import DeadLetter
from celeriac.transports.memory.broker import MAX_DEAD_LETTERS, Broker

__all__ = ["MemoryDeadLetters"]


def _priority(raw: bytes) -> int:
    try:
        return loads_envelope(raw).priority
    except (DecodeError, ValueError, TypeError):
        return 0


class MemoryDeadLetters:
    """The :class:`~celeriac.transports.contracts.DeadLetters` capability."""

    _broker: Broker

    if TYPE_CHECKING:

        def publish_raw(
            self, raw: bytes, queue: str, *, priority: int = 0, eta: float | None = None
        ) -> None:
            """The transport's (``transport.py``)."""

    def list_dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest last."""
        with self._broker.lock:
            items = [d for d in self._broker.dead if queue is None or d.queue == queue]
        return items[-limit:] if limit > 0 else []

    def _take_dead(self, ids: Sequence[str]) -> list[DeadLetter]:
        wanted = set(ids)
        broker = self._broker
        with broker.lock:
            taken = [d for d in broker.dead if d.id in wanted]
            if taken:
                kept = [d for d in broker.dead if d.id not in wanted]
                broker.dead = deque(kept, maxlen=MAX_DEAD_LETTERS)
        return taken

    def requeue_dead_letters(self, ids: Sequence[str]) -> int:
        """Publish each entry's stored bytes again on its queue and forget the entry."""
        taken = self._take_dead(ids)
        for letter in taken:
            self.publish_raw(letter.raw, letter.queue, priority=_priority(letter.raw))
        return len(taken)

    def discard_dead_letters(self, ids: Sequence[str]) -> int:
        """Forget entries for good; return how many there were."""
        return len(self._take_dead(ids))
