"""Broker URLs: see :mod:`celeriac.utils.amqp_url` (shared with the ``rpc://`` backend)."""

from __future__ import annotations

from celeriac.utils.amqp_url import (
    Address,
    failover_cycle,
    parse_url,
    parse_urls,
    ssl_context,
    with_defaults,
)

__all__ = ["Address", "failover_cycle", "parse_url", "parse_urls", "ssl_context", "with_defaults"]
