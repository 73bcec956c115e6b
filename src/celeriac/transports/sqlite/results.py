"""Settling together with results: store results and ack their messages in one transaction.

When the result backend keeps its rows in the broker's file (the default: broker and
results in ``celeriac.sqlite3``), a settled task costs one commit instead of two, and a
crash can never keep a result without its ack or the other way round. The backend is
reached through :class:`ResultRows` (what ``SQLiteBackend`` offers), so the transport
never imports a backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from celeriac.transports.base import Delivery
from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection

__all__ = ["ResultRows", "SQLiteResultSettling"]


@runtime_checkable
class ResultRows(Protocol):
    """A result store that writes its rows inside a transaction opened on its file."""

    path: str

    def ensure_schema(self) -> None:
        """Create the store's tables if they are missing."""
        ...

    def write_rows(
        self, conn: sqlite3.Connection, items: Sequence[tuple[str, Mapping[str, object]]]
    ) -> None:
        """Write ``(task id, meta)`` rows inside the caller's transaction."""
        ...

    def notify_stored(self) -> None:
        """Wake whoever waits for a result, after the transaction committed."""
        ...


class SQLiteResultSettling(SQLiteConnection):
    """The :class:`~celeriac.transports.contracts.ResultSettling` capability."""

    def can_settle_with(self, backend: object) -> bool:
        """True when ``backend`` keeps its results in this file (see :meth:`ack_with_results`)."""
        return isinstance(backend, ResultRows) and backend.path == self.path

    async def ack_with_results(
        self,
        deliveries: Sequence[Delivery],
        items: Sequence[tuple[str, Mapping[str, object]]],
        backend: object,
    ) -> None:
        """Store results through ``backend`` and ack messages in ONE transaction.

        Results and messages share the file, so a crash can never keep one without the
        other, and a settled task costs one commit instead of two.

        Raises:
            TypeError: ``backend`` cannot write rows here (ask :meth:`can_settle_with`).
        """
        if not isinstance(backend, ResultRows):
            raise TypeError(f"{backend!r} cannot store results in {self.path!r}")
        if items:
            await self._run(backend.ensure_schema)
        await self._run(self._ack_with_results, [(int(d.tag),) for d in deliveries], items, backend)
        if items:
            backend.notify_stored()

    def _ack_with_results(
        self,
        ids: list[tuple[int]],
        items: Sequence[tuple[str, Mapping[str, object]]],
        backend: ResultRows,
    ) -> None:
        with self._db.write() as conn:
            if items:
                backend.write_rows(conn, items)
            if ids:
                conn.executemany(schema.DELETE, ids)
