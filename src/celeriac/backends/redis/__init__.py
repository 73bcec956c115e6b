"""The Redis result backend (``redis://``, ``rediss://``, ``redis+socket://``, ``sentinel://``).

Keys, values, writes and chord scripts are Celery's, so Celery and celeriac clients and
workers share results. One concept per module:

* ``options.py``: the options and key prefixes, parsed once; ``scripts.py`` + ``lua/``:
  the Lua scripts (Celery's write as one script, Celery 5.7's chord scripts).
* ``connection.py``: clients (sync, and one per event loop) and retries;
  ``store.py``: storing and reading results; ``wait.py``: waiting for one, sync and
  async under one :class:`~.wait.WaitPolicy`; ``chords.py``: chord counters.
* ``backend.py``: :class:`RedisBackend`, all of them together.
"""

from celeriac.backends.redis.backend import RedisBackend
from celeriac.backends.redis.options import global_keyprefix

__all__ = ["RedisBackend", "SentinelBackend", "global_keyprefix"]


class SentinelBackend(RedisBackend):
    """Celery's name for the Redis backend reached through Sentinel (``sentinel://`` URLs,
    ``master_name`` in the transport options); :class:`RedisBackend` serves them too."""
