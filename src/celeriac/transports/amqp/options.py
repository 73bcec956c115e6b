"""The AMQP transport's options, read once from the URL, the settings and the transport options.

=============================  ==========================================================
option                         from
=============================  ==========================================================
brokers (failover list)        the URL (``;``-separated), ``broker_failover_strategy``
TLS                            ``amqps://`` or ``broker_use_ssl`` (``True`` or kombu's dict)
heartbeat                      ``broker_heartbeat`` (120 s; 0 turns it off), ``?heartbeat=``
producer connections           ``broker_pool_limit`` (10)
connect timeout                ``broker_connection_timeout`` (4 s)
publisher confirms             ``broker_transport_options['confirm_publish']`` (True)
unconfirmed per producer conn. ``broker_transport_options['confirm_window']`` (256; 1:
                               each publish waits for its own confirm, see confirms.py)
queues and exchanges           ``task_queues``, ``task_default_*`` (see ``topology.py``)
celeriac's own queues' prefix  ``broker_transport_options['celeriac_prefix']`` ("")
=============================  ==========================================================
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celeriac.transports.amqp.topology import Topology
from celeriac.transports.amqp.urls import Address, parse_urls, ssl_context, with_defaults
from celeriac.transports.base import TransportOptions

__all__ = ["AMQPOptions", "DEAD_LETTER_QUEUE"]

#: Where dead-lettered messages go unless their queue names an ``x-dead-letter-exchange``.
DEAD_LETTER_QUEUE = "celeriac.dead_letters"


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    return default


@dataclass(frozen=True)
class AMQPOptions:
    """Everything the transport's parts read, parsed once."""

    addresses: tuple[Address, ...]
    failover_strategy: object
    tls: ssl.SSLContext | None
    heartbeat: float
    pool_limit: int
    connect_timeout: float
    confirm_publish: bool
    confirm_window: int
    topology: Topology
    result_expires: float | None
    delay_queue_type: str
    namespace: str

    def own(self, name: str) -> str:
        """The name of one of celeriac's own queues (dead letters, locks, rate limits)."""
        return f"{self.namespace}{name}"

    @classmethod
    def parse(cls, url: str, options: TransportOptions) -> AMQPOptions:
        """Read the URL, the app settings and ``broker_transport_options``."""
        settings: Mapping[str, Any] = options.settings
        extra = options.extra
        use_ssl = extra.get("broker_use_ssl") or settings.get("broker_use_ssl")
        addresses = parse_urls(url, use_ssl=bool(use_ssl))
        addresses = [with_defaults(a, addresses[0]) for a in addresses]
        heartbeat = settings.get("broker_heartbeat")
        query_beat = addresses[0].query.get("heartbeat")
        if query_beat is not None:
            heartbeat = query_beat
        pool_limit = settings.get("broker_pool_limit")
        expires = settings.get("result_expires")
        if isinstance(expires, timedelta):
            expires = expires.total_seconds()
        return cls(
            addresses=tuple(addresses),
            failover_strategy=settings.get("broker_failover_strategy"),
            tls=ssl_context(use_ssl or any(a.tls for a in addresses)),
            heartbeat=_number(heartbeat, 120.0),
            pool_limit=max(1, int(_number(pool_limit, 10) or 10)),
            connect_timeout=_number(
                extra.get("socket_connect_timeout", settings.get("broker_connection_timeout")), 4.0
            ),
            confirm_publish=bool(extra.get("confirm_publish", True)),
            confirm_window=max(1, int(_number(extra.get("confirm_window"), 256))),
            topology=Topology(settings),
            result_expires=None if expires is None else _number(expires, 86400.0),
            namespace=str(extra.get("celeriac_prefix") or ""),
            delay_queue_type=str(
                settings.get("broker_native_delayed_delivery_queue_type") or "quorum"
            ),
        )
