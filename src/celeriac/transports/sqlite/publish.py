"""The producer side: a message is one row, inserted in one transaction, then a doorbell."""

from __future__ import annotations

import time

from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection
from celeriac.utils.doorbell import ring

__all__ = ["SQLitePublisher"]


class SQLitePublisher(SQLiteConnection):
    """Publishing (any thread), and raw bytes for tests and tools
    (:class:`~celeriac.transports.contracts.RawPublish`)."""

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put a message on a queue (one transaction; see :meth:`Transport.publish`)."""
        self.publish_raw(dumps_envelope(message), queue, priority=priority, eta=eta)

    def publish_raw(
        self, raw: bytes, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Put already-encoded envelope bytes on a queue (stored verbatim)."""
        now = time.time()
        not_before = eta if eta is not None and eta > now else 0.0
        row = (queue, max(0, min(9, int(priority))), not_before, now, raw)
        with self._db.write() as conn:
            conn.execute(schema.INSERT, row)
        self._notify()
        ring(self._bell_dir)

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish`, run on this transport's thread."""
        raw = dumps_envelope(message)
        await self._run(self._publish_positional, raw, queue, priority, eta)

    def _publish_positional(self, raw: bytes, queue: str, priority: int, eta: float | None) -> None:
        self.publish_raw(raw, queue, priority=priority, eta=eta)
