"""The Redis broker's options, parsed once from the URL and ``broker_transport_options``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from celeriac.exceptions import ImproperlyConfigured
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis.keys import PRIORITY_STEPS, SEP, RedisKeys
from celeriac.utils.redis_url import RedisTarget, connection_kwargs, parse_redis_url

__all__ = ["QueueOrder", "RedisOptions"]

QueueOrder = Literal["round_robin", "priority", "sorted"]
_ORDERS: tuple[QueueOrder, ...] = ("round_robin", "priority", "sorted")


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """What a Redis transport reads, parsed once (the URL's query wins over the options).

    Attributes:
        target: where the URL points (server, socket or sentinels; database).
        keys: every key name, under ``global_keyprefix``.
        queue_order: ``queue_order_strategy``: ``round_robin`` (kombu's default),
            ``priority`` (the given order) or ``sorted``.
        visibility_timeout: seconds before an unrenewed lease is restored.
        max_deliveries: deliveries without an ack before a message is dead-lettered.
        block_timeout: seconds one BLMOVE waits (``polling_interval``, at least 10 ms).
        mutex_expire: ``unacked_mutex_expire``, seconds.
        retry_window: ``connection_retry_window``: seconds consumer-side writes retry.
        restore_interval: seconds between two restores of expired leases.
        check_interval: seconds between two looks (inside LEASE) for expired leases and
            dead consumers.
        max_connections: the connection pools' size (at least 2 sync, 4 async).
        conn_kwargs: redis-py connection arguments (timeouts, TLS, credentials).
        sweep_interval: ``bookkeeping_sweep_interval``: seconds between sweep pages.
        delivery_count_ttl: seconds a delivery count outlives its message's lease.
        connect_max_retries: ``broker_connection_max_retries`` at start-up (None: forever).
        retry_on_startup: ``broker_connection_retry_on_startup``.
        master_name, sentinel_kwargs: Sentinel's settings.
    """

    target: RedisTarget
    keys: RedisKeys
    queue_order: QueueOrder
    visibility_timeout: float
    max_deliveries: int
    block_timeout: float
    mutex_expire: float
    retry_window: float
    restore_interval: float
    check_interval: float
    max_connections: int
    conn_kwargs: Mapping[str, Any]
    sweep_interval: float
    delivery_count_ttl: float
    connect_max_retries: int | None
    retry_on_startup: bool
    master_name: str | None
    sentinel_kwargs: Mapping[str, Any] | None

    @classmethod
    def parse(cls, url: str, options: TransportOptions) -> RedisOptions:
        """Read ``url`` and ``options``.

        Raises:
            ImproperlyConfigured: bad ``priority_steps`` or ``queue_order_strategy``.
        """
        target = parse_redis_url(url)
        opts: dict[str, Any] = {**options.extra, **target.query}
        visibility_timeout = float(opts.get("visibility_timeout", options.visibility_timeout))
        restore_interval = min(1.0, max(0.01, visibility_timeout / 4))
        max_retries = opts.get("broker_connection_max_retries", 100)
        master = opts.get("master_name")
        return cls(
            target=target,
            keys=_keys(target, opts),
            queue_order=_queue_order(opts.get("queue_order_strategy")),
            visibility_timeout=visibility_timeout,
            max_deliveries=options.max_deliveries,
            block_timeout=max(0.01, float(opts.get("polling_interval", 0.1))),
            mutex_expire=float(opts.get("unacked_mutex_expire", 300)),
            retry_window=float(opts.get("connection_retry_window", 60.0)),
            restore_interval=restore_interval,
            check_interval=restore_interval / 2,
            max_connections=int(opts.get("max_connections", 10)),
            conn_kwargs=connection_kwargs(
                target, opts, use_ssl=opts.get("broker_use_ssl", opts.get("ssl"))
            ),
            sweep_interval=float(opts.get("bookkeeping_sweep_interval", 60.0)),
            delivery_count_ttl=float(opts.get("delivery_count_ttl", 86400.0)),
            connect_max_retries=int(max_retries) if max_retries else None,
            retry_on_startup=bool(opts.get("broker_connection_retry_on_startup", True)),
            master_name=str(master) if master else None,
            sentinel_kwargs=opts.get("sentinel_kwargs"),
        )


def _keys(target: RedisTarget, opts: Mapping[str, Any]) -> RedisKeys:
    steps = opts.get("priority_steps") or PRIORITY_STEPS
    if isinstance(steps, str):
        steps = [s for s in re.split(r"[,\s]+", steps) if s]
    priority_steps = tuple(sorted({int(s) for s in steps}))
    if not priority_steps or priority_steps[0] != 0:
        raise ImproperlyConfigured(f"priority_steps must start at 0, got {list(priority_steps)}")
    patterns = opts.get("fanout_patterns", True)
    if isinstance(patterns, str):
        patterns = patterns.lower() in ("true", "1")
    return RedisKeys.make(
        str(opts.get("global_keyprefix") or ""),
        str(opts.get("sep") or SEP),
        priority_steps,
        unacked=str(opts.get("unacked_key", "unacked")),
        unacked_index=str(opts.get("unacked_index_key", "unacked_index")),
        unacked_mutex=str(opts.get("unacked_mutex_key", "unacked_mutex")),
        fanout_prefix=_fanout_prefix(opts.get("fanout_prefix", True), target.db),
        fanout_patterns=bool(patterns),
    )


def _fanout_prefix(setting: object, db: int) -> str:
    """kombu's ``fanout_prefix``: True → ``/<db>.``, False → none, a string → itself."""
    if setting is True or (isinstance(setting, str) and setting.lower() in ("true", "1")):
        return f"/{db}."
    if setting is False or (isinstance(setting, str) and setting.lower() in ("false", "0", "")):
        return ""
    return str(setting)


def _queue_order(value: object) -> QueueOrder:
    text = str(value or "round_robin")
    for order in _ORDERS:
        if text == order:
            return order
    raise ImproperlyConfigured(
        f"queue_order_strategy must be round_robin, priority or sorted, not {text!r}"
    )
