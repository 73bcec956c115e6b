"""The Redis transport: the work queue and its capabilities, assembled from this package."""

from __future__ import annotations

from celeriac.transports.redis.admin import RedisAdmin
from celeriac.transports.redis.fanout import RedisFanout
from celeriac.transports.redis.fetch import RedisFetch
from celeriac.transports.redis.lock import RedisLocks
from celeriac.transports.redis.ratelimit import RedisRates

__all__ = ["RedisTransport"]


class RedisTransport(RedisFetch, RedisAdmin, RedisFanout, RedisLocks, RedisRates):
    """A broker on Redis in kombu's layout: Celery clients and celeriac share its queues.

    See the package docstring for the design, ``keys.py`` for the layout. Options come
    from ``broker_transport_options`` (``options.extra``) and the URL's query string
    (which wins): ``visibility_timeout``, ``global_keyprefix``, ``queue_order_strategy``,
    ``priority_steps``, ``sep``, ``socket_timeout``, ``socket_connect_timeout``,
    ``max_connections``, ``health_check_interval``, ``polling_interval``,
    ``master_name`` / ``sentinel_kwargs`` (Sentinel), ``broker_use_ssl`` (TLS settings),
    ``unacked_mutex_expire``, ``connection_retry_window`` (``options.py``).

    Capabilities (:mod:`celeriac.transports.contracts`): the work queue and admin,
    broadcast and reply queues, the leader lock, the rate store, blocking renewal, batch
    and raw publishing.
    """
