"""Broker URLs as kombu reads them: ``amqp://``, ``pyamqp://``, ``amqps://``, failover lists.

``amqp://user:pass@host:5672/vhost`` names one broker; the path is the virtual host
(``//`` and an empty path both mean ``/``, ``/%2F`` too). ``amqps://`` (or
``broker_use_ssl``) speaks TLS on port 5671. Several URLs separated by ``;`` form a
failover list, tried in the order ``broker_failover_strategy`` gives (``round-robin``,
the default, or ``shuffle``, or a callable returning an iterator over the list).

Shared by the AMQP transport and the ``rpc://`` result backend (no AMQP client here).
"""

from __future__ import annotations

import itertools
import random
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["Address", "failover_cycle", "parse_url", "parse_urls", "ssl_context", "with_defaults"]

SCHEMES = ("amqp", "pyamqp", "amqps", "librabbitmq")


@dataclass(frozen=True, slots=True)
class Address:
    """One broker: where it is, who we are there, and whether it speaks TLS."""

    host: str = "localhost"
    port: int = 5672
    userid: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    tls: bool = False
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URL without the password, for logs."""
        scheme = "amqps" if self.tls else "amqp"
        return f"{scheme}://{self.userid}@{self.host}:{self.port}/{quote(self.vhost, safe='')}"

    def aiormq_url(self, heartbeat: float | None) -> str:
        """This broker as an aiormq URL (its vhost quoted, the heartbeat in the query)."""
        scheme = "amqps" if self.tls else "amqp"
        user, password = quote(self.userid, safe=""), quote(self.password, safe="")
        vhost = quote(self.vhost, safe="")
        beat = int(heartbeat) if heartbeat else 0
        return f"{scheme}://{user}:{password}@{self.host}:{self.port}/{vhost}?heartbeat={beat}"


def _vhost(path: str) -> str:
    # kombu: the path minus its first slash; "" and "/" mean the default vhost "/".
    vhost = unquote(path[1:] if path.startswith("/") else path)
    return vhost or "/"


def parse_url(url: str, *, use_ssl: bool = False) -> Address:
    """One ``amqp://`` URL as an :class:`Address`.

    Raises:
        ImproperlyConfigured: the scheme is not an AMQP one, or the port is not a number.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"{url!r} is not an AMQP broker URL (expected one of "
            f"{', '.join(s + '://' for s in SCHEMES)})"
        )
    tls = parts.scheme == "amqps" or use_ssl
    try:
        port = parts.port or (5671 if tls else 5672)
    except ValueError:
        raise ImproperlyConfigured(f"the port of {url!r} is not a number") from None
    return Address(
        host=parts.hostname or "localhost",
        port=port,
        userid=unquote(parts.username) if parts.username else "guest",
        password=unquote(parts.password) if parts.password else "guest",
        vhost=_vhost(parts.path),
        tls=tls,
        query=dict(parse_qsl(parts.query)),
    )


def parse_urls(url: str | Sequence[str], *, use_ssl: bool = False) -> list[Address]:
    """Every broker of a URL, a ``;``-separated failover list, or a list of URLs."""
    urls = url.split(";") if isinstance(url, str) else list(url)
    addresses = [parse_url(one, use_ssl=use_ssl) for one in urls if one.strip()]
    if not addresses:
        raise ImproperlyConfigured(f"no broker in the URL {url!r}")
    return addresses


def with_defaults(address: Address, first: Address) -> Address:
    """kombu fills a failover URL's missing credentials from the first URL's."""
    if address.userid == "guest" and address.password == "guest":
        return replace(address, userid=first.userid, password=first.password)
    return address


FailoverStrategy = Callable[[Sequence[Address]], Iterator[Address]]


def _round_robin(addresses: Sequence[Address]) -> Iterator[Address]:
    return itertools.cycle(addresses)


def _shuffle(addresses: Sequence[Address]) -> Iterator[Address]:
    while True:
        order = list(addresses)
        random.shuffle(order)
        yield from order


_STRATEGIES: dict[str, FailoverStrategy] = {
    "round-robin": _round_robin,
    "round_robin": _round_robin,
    "shuffle": _shuffle,
}


def failover_cycle(addresses: Sequence[Address], strategy: object = None) -> Iterator[Address]:
    """The brokers in the order to try them, forever (``broker_failover_strategy``).

    Raises:
        ImproperlyConfigured: the strategy is neither a known name nor a callable.
    """
    if strategy is None:
        return _round_robin(addresses)
    if isinstance(strategy, str):
        try:
            return _STRATEGIES[strategy](addresses)
        except KeyError:
            raise ImproperlyConfigured(
                f"unknown broker_failover_strategy {strategy!r} "
                f"(known: {', '.join(sorted(_STRATEGIES))}, or a callable)"
            ) from None
    if callable(strategy):
        return iter(strategy(list(addresses)))
    raise ImproperlyConfigured(f"broker_failover_strategy {strategy!r} is not a name or callable")


def ssl_context(use_ssl: object) -> ssl.SSLContext | None:
    """``broker_use_ssl`` as an SSL context (``True``: the system's defaults).

    The dict form takes kombu's keys: ``ca_certs``, ``certfile``, ``keyfile``,
    ``cert_reqs`` (``ssl.CERT_NONE`` skips verification) and ``server_hostname``.
    """
    if not use_ssl:
        return None
    if isinstance(use_ssl, ssl.SSLContext):
        return use_ssl
    context = ssl.create_default_context()
    if isinstance(use_ssl, Mapping):
        if use_ssl.get("ca_certs"):
            context.load_verify_locations(cafile=str(use_ssl["ca_certs"]))
        if use_ssl.get("certfile"):
            keyfile = use_ssl.get("keyfile")
            context.load_cert_chain(str(use_ssl["certfile"]), str(keyfile) if keyfile else None)
        if use_ssl.get("cert_reqs") == ssl.CERT_NONE:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return context
