"""Redis URLs and connection options, as Celery and kombu spell them (no redis import here)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.imports import import_from_string

__all__ = [
    "RedisTarget",
    "connection_kwargs",
    "parse_redis_url",
    "redacted_url",
    "ssl_kwargs",
]

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

#: URL query parameters that name SSL settings (Celery's ``rediss://…?ssl_cert_reqs=…``).
SSL_KEYS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")

_CERT_REQS = {
    "required": "required",
    "cert_required": "required",
    "optional": "optional",
    "cert_optional": "optional",
    "none": "none",
    "cert_none": "none",
}


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where a Redis URL points.

    Attributes:
        kind: ``tcp`` (``redis://``, ``rediss://``), ``unix`` (``redis+socket://``) or
            ``sentinel`` (``sentinel://h1:p1;sentinel://h2:p2``).
        host, port: the server (tcp), or the first sentinel.
        path: the socket file (unix).
        db: the database number (the URL path, or ``virtual_host``/``db`` in the query).
        username, password: credentials from the URL (for the master when sentinel).
        ssl: True for ``rediss://`` (and ``sentinel`` with ``ssl=true``).
        sentinels: every ``(host, port)`` of a sentinel URL, in order.
        query: the remaining query parameters (option overrides, SSL settings).
    """

    kind: Literal["tcp", "unix", "sentinel"]
    host: str = "localhost"
    port: int = DEFAULT_PORT
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    sentinels: tuple[tuple[str, int], ...] = ()
    query: Mapping[str, str] = field(default_factory=dict)


def _db(value: str | None, url: str) -> int:
    text = (value or "").strip("/")
    if not text:
        return 0
    try:
        db = int(text)
    except ValueError:
        raise ImproperlyConfigured(
            f"the Redis database in {redacted_url(url)!r} must be a number, not {text!r}"
        ) from None
    if db < 0:
        raise ImproperlyConfigured(f"the Redis database in {redacted_url(url)!r} is negative")
    return db


def _port(parts: SplitResult, default: int, url: str) -> int:
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"bad port in Redis URL {redacted_url(url)!r}") from None
    return int(port) if port else default


def parse_redis_url(url: str) -> RedisTarget:
    """Parse a broker or result backend URL naming a Redis server.

    Accepted forms (Celery's and kombu's): ``redis://[[user]:password@]host[:port][/db]``,
    ``rediss://…`` (TLS), ``redis+socket:///path/to.sock?virtual_host=N`` (also
    ``socket://`` and ``unix://``), and ``sentinel://[:pw@]h1:p1[/db];sentinel://h2:p2``.
    Query parameters are kept in ``query``; ``virtual_host`` or ``db`` there choose the
    database for socket URLs.

    Raises:
        ImproperlyConfigured: the URL is not one of these.
    """
    if ";" in url:
        return _parse_sentinels(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if scheme in ("redis+socket", "socket", "unix", "redis+unix"):
        path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
        if not path:
            raise ImproperlyConfigured(f"{redacted_url(url)!r} names no socket file")
        db = _db(query.pop("virtual_host", "") or query.pop("db", ""), url)
        return RedisTarget(
            "unix", path=path, db=db, username=username, password=password, query=query
        )
    if scheme == "sentinel":
        return _parse_sentinels(url)
    if scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"not a Redis URL: {redacted_url(url)!r}")
    db_text = parts.path or query.pop("virtual_host", "") or query.pop("db", "")
    return RedisTarget(
        "tcp",
        host=parts.hostname or "localhost",
        port=_port(parts, DEFAULT_PORT, url),
        db=_db(db_text, url),
        username=username or None,
        password=password or None,
        ssl=scheme == "rediss",
        query=query,
    )


def _parse_sentinels(url: str) -> RedisTarget:
    """``sentinel://[:pw@]h1:p1[/db];sentinel://h2:p2`` → one target with every sentinel."""
    sentinels: list[tuple[str, int]] = []
    first: SplitResult | None = None
    query: dict[str, str] = {}
    for piece in filter(None, (p.strip() for p in url.split(";"))):
        parts = urlsplit(piece)
        if parts.scheme.lower() != "sentinel":
            raise ImproperlyConfigured(
                f"every part of a Sentinel URL must be sentinel://host:port: {redacted_url(url)!r}"
            )
        sentinels.append((parts.hostname or "localhost", _port(parts, DEFAULT_SENTINEL_PORT, url)))
        query.update(parse_qsl(parts.query, keep_blank_values=True))
        if first is None:
            first = parts
    if first is None:
        raise ImproperlyConfigured(f"empty Sentinel URL {url!r}")
    db_text = first.path or query.pop("virtual_host", "") or query.pop("db", "")
    use_ssl = query.pop("ssl", "").lower() in ("1", "true", "yes", "on")
    host, port = sentinels[0]
    return RedisTarget(
        "sentinel",
        host=host,
        port=port,
        db=_db(db_text, url),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        ssl=use_ssl,
        sentinels=tuple(sentinels),
        query=query,
    )


def redacted_url(url: str) -> str:
    """The URL with any password replaced by ``**`` (for logs and error messages)."""
    pieces = []
    for piece in url.split(";"):
        parts = urlsplit(piece)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":**@", 1)
            piece = parts._replace(netloc=netloc).geturl()
        pieces.append(piece)
    return ";".join(pieces)


def _cert_reqs(value: object) -> str:
    if isinstance(value, ssl.VerifyMode):
        return {ssl.CERT_REQUIRED: "required", ssl.CERT_OPTIONAL: "optional"}.get(value, "none")
    if isinstance(value, int):
        return _cert_reqs(ssl.VerifyMode(value))
    text = str(value).strip().lower()
    try:
        return _CERT_REQS[text]
    except KeyError:
        raise ImproperlyConfigured(
            f"ssl_cert_reqs must be required, optional or none (or ssl.CERT_*), not {value!r}"
        ) from None


def ssl_kwargs(
    settings: Mapping[str, object] | bool | None, query: Mapping[str, str]
) -> dict[str, str | bool]:
    """redis-py SSL keyword arguments from ``broker_use_ssl``-style settings and the URL query.

    ``settings`` may be True (verify with the system CAs), a dict with Celery's keys
    (``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, also
    ``cert_reqs``/``ca_certs``/``certfile``/``keyfile`` as the ``ssl`` module names them),
    or None. Query parameters win over settings.
    """
    merged: dict[str, object] = {}
    if isinstance(settings, Mapping):
        for key, value in settings.items():
            name = key if key.startswith("ssl_") else f"ssl_{key}"
            merged[name] = value
    for key in SSL_KEYS:
        if key in query:
            merged[key] = unquote(query[key])
    kwargs: dict[str, str | bool] = {}
    for key, value in merged.items():
        if value is None:
            continue
        if key == "ssl_cert_reqs":
            kwargs[key] = _cert_reqs(value)
        elif key == "ssl_check_hostname":
            kwargs[key] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif key in SSL_KEYS:
            kwargs[key] = str(value)
    return kwargs


def _float_or_none(name: str, value: object) -> float | None:
    if value is None or value == "":
        return None
    return _seconds(name, value)


def _seconds(name: str, value: object) -> float:
    if isinstance(value, str | int | float):
        try:
            return float(value)
        except ValueError:
            pass
    raise ImproperlyConfigured(f"Redis option {name!r} expects seconds, got {value!r}")


def _credentials(target: RedisTarget, options: Mapping[str, object]) -> dict[str, object]:
    """User name and password (the URL's first, then the options'), or a credential provider."""
    kwargs: dict[str, object] = {}
    username = target.username or options.get("username")
    password = target.password or options.get("password")
    if username:
        kwargs["username"] = str(username)
    if password:
        kwargs["password"] = str(password)
    provider = options.get("credential_provider")
    if provider:
        if isinstance(provider, str):
            provider = import_from_string(provider)
        kwargs["credential_provider"] = provider() if isinstance(provider, type) else provider
    return kwargs


def connection_kwargs(
    target: RedisTarget,
    options: Mapping[str, object],
    *,
    use_ssl: Mapping[str, object] | bool | None,
) -> dict[str, Any]:
    """Keyword arguments for a redis-py connection pool (sync or asyncio) to ``target``.

    Returns the arguments a ``Connection`` class takes plus ``connection_type``: ``tcp``,
    ``ssl`` or ``unix``, which the caller turns into its module's connection class. For a
    Sentinel target the arguments are those of the master connections.

    Args:
        target: the parsed URL.
        options: transport options (``socket_timeout``, ``socket_connect_timeout``,
            ``socket_keepalive``, ``health_check_interval``, ``client_name``,
            ``retry_on_timeout``; ``username``/``password`` when the URL has none;
            ``credential_provider``: an instance, a class or a ``"module:Class"`` path).
        use_ssl: ``broker_use_ssl`` / ``redis_backend_use_ssl``.
    """
    kwargs: dict[str, Any] = {"db": target.db, **_credentials(target, options)}
    if options.get("retry_on_timeout"):
        kwargs["retry_on_timeout"] = True
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in options:
            kwargs[name] = _float_or_none(name, options[name])
    if options.get("socket_keepalive") is not None:
        kwargs["socket_keepalive"] = bool(options["socket_keepalive"])
    if options.get("health_check_interval") is not None:
        kwargs["health_check_interval"] = _seconds(
            "health_check_interval", options["health_check_interval"]
        )
    if options.get("client_name"):
        kwargs["client_name"] = str(options["client_name"])
    if target.kind == "unix":
        kwargs["path"] = target.path
        kwargs["connection_type"] = "unix"
        return kwargs
    if target.kind == "tcp":
        kwargs["host"] = target.host
        kwargs["port"] = target.port
    wants_ssl = target.ssl or bool(use_ssl)
    if wants_ssl:
        kwargs.update(ssl_kwargs(use_ssl if use_ssl is not True else None, target.query))
        kwargs["connection_type"] = "ssl"
    else:
        if any(key in target.query for key in SSL_KEYS):
            raise ImproperlyConfigured(
                "SSL parameters in a redis:// URL: use rediss:// to connect with TLS"
            )
        kwargs["connection_type"] = "tcp"
    return kwargs


def pool_kwargs(conn_kwargs: Mapping[str, object]) -> dict[str, Any]:
    """Connection-pool keyword arguments from :func:`connection_kwargs`' result.

    A new connection then costs one round trip (SELECT), not four: no CLIENT SETINFO
    (two, and redis-py would read its version from the package metadata, ~2 ms) and no
    HELLO (RESP2). Not over TLS: there redis-py must read a reply while connecting, or a
    TLS 1.3 session ticket left unread makes its pool refuse the new connection.
    """
    kwargs = dict(conn_kwargs)
    kind = kwargs.pop("connection_type")
    kwargs["driver_info"] = None
    if kind != "ssl":
        kwargs["protocol"] = 2
    return kwargs


def connection_class(conn_kwargs: Mapping[str, object], module: ModuleType) -> Any:
    """The connection class of ``module`` (``redis.connection`` or its asyncio twin)."""
    kind = conn_kwargs["connection_type"]
    if kind == "unix":
        return module.UnixDomainSocketConnection
    if kind == "ssl":
        return module.SSLConnection
    return module.Connection


def sentinel_master_kwargs(conn_kwargs: Mapping[str, object]) -> dict[str, Any]:
    """Keyword arguments for ``Sentinel(...)``: the masters' pool arguments, no host/port."""
    kwargs = pool_kwargs(conn_kwargs)
    kwargs.pop("host", None)
    kwargs.pop("port", None)
    if conn_kwargs["connection_type"] == "ssl":
        kwargs["ssl"] = True
    return kwargs
