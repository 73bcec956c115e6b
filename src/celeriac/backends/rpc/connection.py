"""Where ``rpc://`` results travel: the app's AMQP broker; the reply queue as Celery declares it.

``rpc://`` has no server of its own: results are messages on the broker the tasks go
through (``broker_url``, with its failover list, ``broker_use_ssl`` and
``broker_connection_timeout``). This module reads those settings once and opens
blocking py-amqp connections (the client waits in its own thread; the worker sends from
a thread too, see :mod:`celeriac.backends.rpc.sender`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import amqp
import amqp.exceptions

from celeriac.exceptions import BrokerError, ImproperlyConfigured
from celeriac.utils.amqp_url import Address, failover_cycle, parse_urls, ssl_context, with_defaults

__all__ = ["CONNECTION_ERRORS", "RPCSettings", "connect", "declare_reply_queue"]

#: Failures after which a connection is dropped and opened again.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    ConnectionError,
    OSError,
    socket.timeout,
)


def _seconds(value: object, default: float | None) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


@dataclass(frozen=True)
class RPCSettings:
    """The broker and reply-queue settings ``rpc://`` reads.

    Attributes:
        addresses: the brokers (``broker_url``'s failover list).
        failover_strategy: ``broker_failover_strategy``.
        tls: ``amqps://`` or ``broker_use_ssl``.
        connect_timeout: ``broker_connection_timeout``.
        persistent: ``result_persistent``: results are sent with delivery mode 2.
        expires: ``result_expires`` in seconds: the reply queue's ``x-expires`` (Celery's).
    """

    addresses: tuple[Address, ...]
    failover_strategy: object
    tls: Any
    connect_timeout: float
    persistent: bool
    expires: float | None

    @classmethod
    def parse(cls, broker_url: str, settings: Mapping[str, Any]) -> RPCSettings:
        """Read the broker URL and the settings.

        Raises:
            ImproperlyConfigured: the broker is not an AMQP one (``rpc://`` needs RabbitMQ).
        """
        if not broker_url.split(";")[0].strip().startswith(("amqp", "pyamqp", "librabbitmq")):
            raise ImproperlyConfigured(
                f"the rpc:// result backend sends results through an AMQP broker "
                f"(RabbitMQ), not {broker_url.split('://')[0] or 'none'}://; use redis:// or "
                f"another result backend with this broker"
            )
        use_ssl = settings.get("broker_use_ssl")
        addresses = parse_urls(broker_url, use_ssl=bool(use_ssl))
        addresses = [with_defaults(a, addresses[0]) for a in addresses]
        return cls(
            addresses=tuple(addresses),
            failover_strategy=settings.get("broker_failover_strategy"),
            tls=ssl_context(use_ssl or any(a.tls for a in addresses)),
            connect_timeout=_seconds(settings.get("broker_connection_timeout"), 4.0) or 4.0,
            persistent=bool(settings.get("result_persistent")),
            expires=_seconds(settings.get("result_expires"), 86400.0) or None,
        )

    def brokers(self) -> Iterator[Address]:
        """The brokers in the order to try them (once around the failover list)."""
        order = failover_cycle(self.addresses, self.failover_strategy)
        for _ in range(len(self.addresses)):
            yield next(order)


def connect(settings: RPCSettings, *, confirm: bool) -> amqp.Connection:
    """An open connection to the first broker of the failover list that answers.

    Raises:
        BrokerError: no broker could be reached.
    """
    errors: list[str] = []
    for address in settings.brokers():
        conn = amqp.Connection(
            host=f"{address.host}:{address.port}",
            userid=address.userid,
            password=address.password,
            virtual_host=address.vhost,
            ssl=settings.tls or False,
            connect_timeout=settings.connect_timeout,
            heartbeat=0,
            confirm_publish=confirm,
            client_properties={"product": "celeriac (rpc results)"},
        )
        try:
            conn.connect()
        except CONNECTION_ERRORS as exc:
            errors.append(f"{address.redacted}: {exc or type(exc).__name__}")
            continue
        return conn
    raise BrokerError(f"rpc:// cannot connect to {'; '.join(errors)}")


def declare_reply_queue(channel: Any, name: str, expires: float | None) -> None:
    """Declare the reply queue exactly as Celery's ``RPCBackend.binding`` does: durable,
    auto-deleted once its last consumer leaves, ``x-expires`` = ``result_expires``."""
    arguments = {"x-expires": int(expires * 1000)} if expires else None
    channel.queue_declare(
        name, durable=True, exclusive=False, auto_delete=True, arguments=arguments
    )
