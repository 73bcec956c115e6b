"""URL scheme to transport class: the one string-to-class table for brokers."""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from celeriac.exceptions import ImproperlyConfigured
from celeriac.transports.base import Transport, TransportOptions

__all__ = ["TRANSPORTS", "create_transport", "transport_class"]

#: scheme -> ("module:Class", extra that provides its dependencies or "")
TRANSPORTS: dict[str, tuple[str, str]] = {
    "memory": ("celeriac.transports.memory:MemoryTransport", ""),
    "sqlite": ("celeriac.transports.sqlite:SQLiteTransport", ""),
    "sqla+sqlite": ("celeriac.transports.sqlite:SQLiteTransport", ""),
    "redis": ("celeriac.transports.redis:RedisTransport", "redis"),
    "rediss": ("celeriac.transports.redis:RedisTransport", "redis"),
    "redis+socket": ("celeriac.transports.redis:RedisTransport", "redis"),
    "sentinel": ("celeriac.transports.redis:RedisTransport", "redis"),
    "amqp": ("celeriac.transports.amqp:AMQPTransport", "amqp"),
    "amqps": ("celeriac.transports.amqp:AMQPTransport", "amqp"),
    "pyamqp": ("celeriac.transports.amqp:AMQPTransport", "amqp"),
    "librabbitmq": ("celeriac.transports.amqp:AMQPTransport", "amqp"),  # kombu: amqp, C client
}


def transport_class(url: str) -> type[Transport]:
    """Return the transport class serving ``url``'s scheme.

    Raises:
        ImproperlyConfigured: the scheme is unknown, or its extra is not installed.
    """
    scheme = urlsplit(url).scheme or url.partition(":")[0]
    try:
        target, extra = TRANSPORTS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in sorted(TRANSPORTS))
        raise ImproperlyConfigured(
            f"unknown broker URL scheme {scheme!r} in {url!r} (known: {known})"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'celeriac[{extra}]'" if extra else ""
        raise ImproperlyConfigured(f"broker {scheme}:// needs {exc.name}{hint}") from exc
    cls: type[Transport] = getattr(module, class_name)
    return cls


def create_transport(url: str, options: TransportOptions | None = None) -> Transport:
    """Instantiate the transport for ``url``."""
    return transport_class(url)(url, options)
