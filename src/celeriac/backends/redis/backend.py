"""The Redis result backend: storage, waiting and chords, assembled from this package."""

from __future__ import annotations

from celeriac.backends.redis.chords import RedisChords
from celeriac.backends.redis.wait import RedisResultWaiting

__all__ = ["RedisBackend"]


class RedisBackend(RedisChords, RedisResultWaiting):
    """Celery's Redis result store: ``celery-task-meta-<id>`` keys, SETEX + PUBLISH writes.

    Options (``result_backend_transport_options``, or the URL's query string):
    ``global_keyprefix``, ``retry_policy``, ``socket_timeout``, ``socket_connect_timeout``,
    ``health_check_interval``, ``max_connections``, ``master_name`` and
    ``sentinel_kwargs`` (Sentinel), ``redis_backend_use_ssl`` (TLS settings),
    ``result_chord_expires``, ``result_chord_ordered`` (``options.py``).
    """
