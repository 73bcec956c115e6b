"""Check the broker and result backend URLs before a command uses them (no connection made).

An unknown scheme, a missing extra or a URL that does not parse fails at once, whatever
the command, with one line naming the setting the URL came from and what is accepted.
Checks that need the transport itself (a Redis database number, a SQLite path) happen
when the command creates it, and reach the user through the same error boundary.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import urlsplit

from celeriac.app.base import Celery
from celeriac.app.connections import URL_ENVIRONMENT
from celeriac.backends.registry import backend_class
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transports.registry import transport_class

__all__ = ["BACKEND_HINTS", "BROKER_HINTS", "check_urls"]

_USE_INSTEAD = "use amqp:// (RabbitMQ), redis:// or sqlite:// instead"

#: Schemes of kombu transports a Celery user may bring that celeriac has no transport for.
BROKER_HINTS = {
    "sqs": f"celeriac has no Amazon SQS transport: {_USE_INSTEAD}",
    "qpid": f"celeriac has no Qpid transport: {_USE_INSTEAD}",
    "zookeeper": f"celeriac has no ZooKeeper transport: {_USE_INSTEAD}",
    "consul": f"celeriac has no Consul transport: {_USE_INSTEAD}",
    "mongodb": f"celeriac has no MongoDB transport: {_USE_INSTEAD}",
    "gcpubsub": f"celeriac has no Google Pub/Sub transport: {_USE_INSTEAD}",
    "azureservicebus": f"celeriac has no Azure Service Bus transport: {_USE_INSTEAD}",
    "confluentkafka": f"celeriac has no Kafka transport: {_USE_INSTEAD}",
    "filesystem": "celeriac has no filesystem transport: use sqlite:// for a broker on disk",
}
BACKEND_HINTS: dict[str, str] = {}

_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")

_SHAPE = "scheme://[user:password@]host[:port][/path]"


def check_urls(app: Celery, broker_option: bool = False, backend_option: bool = False) -> None:
    """Raise ImproperlyConfigured for a broker or result backend URL no command can use.

    Args:
        app: the app, with the command line's overrides applied.
        broker_option: the broker URL came from ``-b/--broker``.
        backend_option: the backend URL came from ``--result-backend``.
    """
    broker_source = "-b/--broker" if broker_option else ""
    _check(
        app.broker_url,
        _source("broker_url", broker_source),
        transport_class,
        BROKER_HINTS,
    )
    if app.result_backend_url != "disabled":
        backend_source = "--result-backend" if backend_option else ""
        _check(
            app.result_backend_url,
            _source("result_backend", backend_source),
            backend_class,
            BACKEND_HINTS,
        )
        _check_rpc(app, backend_source)


def _check_rpc(app: Celery, backend_source: str) -> None:
    """``rpc://`` sends results through the broker: only an AMQP broker can carry them."""
    if app.result_backend_url.partition(":")[0].lower() != "rpc":
        return
    broker = app.broker_url.partition(":")[0].lower()
    if broker not in _AMQP_SCHEMES:
        source = _source("result_backend", backend_source)
        raise ImproperlyConfigured(
            f"{source}: the rpc:// result backend sends results through an AMQP broker "
            f"(RabbitMQ), not {broker}://; use redis:// or another result backend"
        )


def _source(setting: str, option: str) -> str:
    if option:
        return option
    envvar = URL_ENVIRONMENT[setting]
    if os.environ.get(envvar):
        return envvar  # it wins over the setting, as in Celery
    return setting


def _check(url: str, source: str, resolve: Callable[[str], object], hints: dict[str, str]) -> None:
    for piece in url.split(";"):  # sentinel://a:26379;sentinel://b:26379
        if "://" not in piece:
            continue
        try:
            _ = urlsplit(piece).port  # "Invalid IPv6 URL", "Port could not be cast …"
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{source}: {url!r} is not a valid URL: {exc} (expected {_SHAPE})"
            ) from exc
    try:
        resolve(url)
    except ImproperlyConfigured as exc:
        hint = hints.get(url.partition(":")[0].lower())
        raise ImproperlyConfigured(f"{source}: {exc}{f'; {hint}' if hint else ''}") from exc
