"""The SQLite broker's options, read once from the URL and the transport options."""

from __future__ import annotations

from dataclasses import dataclass

from celeriac.transports.base import TransportOptions
from celeriac.utils.sqlite import DEFAULT_BUSY_TIMEOUT, sqlite_path

__all__ = ["SQLiteOptions"]


@dataclass(frozen=True, slots=True)
class SQLiteOptions:
    """What a SQLite transport reads, parsed once.

    Attributes:
        path: the database file (``sqlite:///relative.db``, ``sqlite:////abs.db``).
        busy_timeout: seconds a writer waits for another (transport option, default 30).
        visibility_timeout: seconds a lease lasts unless renewed.
        max_deliveries: deliveries without an ack before a message is dead-lettered.
        polling_interval: longest pause between two looks of an idle fetch.
    """

    path: str
    busy_timeout: float
    visibility_timeout: float
    max_deliveries: int
    polling_interval: float

    @classmethod
    def parse(cls, url: str, options: TransportOptions) -> SQLiteOptions:
        """Read ``url`` and ``options``."""
        return cls(
            path=sqlite_path(url),
            busy_timeout=float(options.extra.get("busy_timeout", DEFAULT_BUSY_TIMEOUT)),
            visibility_timeout=options.visibility_timeout,
            max_deliveries=options.max_deliveries,
            polling_interval=options.polling_interval,
        )
