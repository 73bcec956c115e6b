"""The SQLite transport: the work queue and its capabilities, assembled from this package."""

from __future__ import annotations

from celeriac.transports.sqlite.admin import SQLiteAdmin
from celeriac.transports.sqlite.fanout import SQLiteFanout
from celeriac.transports.sqlite.fetch import SQLiteFetch
from celeriac.transports.sqlite.lock import SQLiteLocks
from celeriac.transports.sqlite.publish import SQLitePublisher
from celeriac.transports.sqlite.ratelimit import SQLiteRates
from celeriac.transports.sqlite.results import SQLiteResultSettling

__all__ = ["SQLiteTransport"]


class SQLiteTransport(
    SQLiteFetch,
    SQLitePublisher,
    SQLiteAdmin,
    SQLiteResultSettling,
    SQLiteFanout,
    SQLiteLocks,
    SQLiteRates,
):
    """A durable broker in one SQLite file, shared by producers and workers of one machine.

    The file is opened in WAL mode; each thread of each process has its own connection,
    and writes take the lock up front (``BEGIN IMMEDIATE``) and wait up to
    ``busy_timeout`` seconds (transport option, default 30) for other writers.
    Producers publish on their own thread. Everything a worker's event loop asks for
    runs on one thread per transport, so the loop never waits on a SQLite lock.

    An idle :meth:`fetch` looks at ``PRAGMA data_version`` (which changes when another
    connection commits): every millisecond right after activity, backing off to
    ``polling_interval``; a publish through this same transport wakes it at once.
    About once a second it also gives back the leases of this host's dead processes,
    so the messages of a killed worker run again within a second or two.

    Capabilities (:mod:`celeriac.transports.contracts`): the work queue and admin,
    broadcast and reply queues, the leader lock, the rate store, blocking renewal,
    settling together with results (when the result backend uses the same file) and raw
    publishing.
    """
