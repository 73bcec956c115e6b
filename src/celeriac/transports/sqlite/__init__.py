"""The embedded broker (``sqlite:///file.db``): a durable single-machine queue in a SQLite file.

One concept per module, each extending the core class of ``connection.py`` (modules
import only downwards):

* ``schema.py``: every table, column and statement; ``options.py``: the options, parsed
  once; ``records.py``: rows to deliveries; ``thread.py``: the loop's SQLite thread.
* ``connection.py``: the file, the thread, lease ownership and wake-ups.
* ``recovery.py`` → ``settle.py`` → ``fetch.py``: dead consumers' leases; ack, requeue,
  dead-letter and renewal; the lease and fetch path.
* ``publish.py``, ``admin.py``, ``results.py`` (settling with results), ``fanout.py``,
  ``lock.py``, ``ratelimit.py``: one capability each.
* ``transport.py``: :class:`SQLiteTransport`, all of them together.
"""

from celeriac.transports.sqlite.transport import SQLiteTransport

__all__ = ["SQLiteTransport"]
