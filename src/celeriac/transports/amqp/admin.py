"""Queue administration (sync): length, purge, and reading the dead-letter queue
(``deadletters.py``: read without consuming it)."""

from __future__ import annotations

from typing import Any

import amqp.exceptions

from celeriac.transports.amqp.deadletters import DeadLetterQueue
from celeriac.transports.amqp.sync import SyncChannel
from celeriac.transports.base import DeadLetter

__all__ = ["Admin"]


class Admin(DeadLetterQueue):
    """``queue_length``, ``purge`` and ``dead_letters`` (and the
    :class:`~celeriac.transports.contracts.DeadLetters` capability)."""

    def _on_own_channel(self, queue: str, call: Any) -> int:
        self.settle_publishes()  # this process's own publishes count

        def run(item: SyncChannel) -> int:
            channel = item.conn.channel()
            try:
                return int(call(channel))
            except amqp.exceptions.NotFound:
                return 0  # no such queue: nothing waits in it
            finally:
                if channel.is_open:
                    channel.close()

        return self.pool.run(f"Looking at queue {queue!r}", run)

    def queue_length(self, queue: str) -> int:
        """Ready messages of ``queue`` (unacked ones excluded)."""
        return self._on_own_channel(queue, lambda ch: ch.queue_declare(queue, passive=True)[1])

    def purge(self, queue: str) -> int:
        """Delete the ready messages of ``queue``; return how many."""
        return self._on_own_channel(queue, lambda ch: ch.queue_purge(queue) or 0)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters, oldest first, left in their queue."""
        return self.list_dead_letters(None, limit)
