"""How the app's settings become transport and result backend options (pure functions)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from celeriac.backends.base import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.security.setup import signer_for
from celeriac.transports.base import TransportOptions

if TYPE_CHECKING:
    from celeriac.config.settings import Settings

__all__ = ["URL_ENVIRONMENT", "backend_options", "configured_url", "transport_options"]

#: The environment variable that wins over each URL setting (Celery's ``Settings`` reads
#: it first, and its ``-b``/``--result-backend`` set it).
URL_ENVIRONMENT = {"broker_url": "CELERY_BROKER_URL", "result_backend": "CELERY_RESULT_BACKEND"}


def configured_url(conf: Settings, setting: str) -> str | None:
    """The URL ``setting`` (``broker_url`` or ``result_backend``) has in effect: its
    environment variable, else the setting; None when neither is set."""
    url = os.environ.get(URL_ENVIRONMENT[setting]) or conf[setting]
    return str(url) if url else None


#: ``redis_*`` result settings and the backend option keys they become.
_REDIS_RESULT_SETTINGS = {
    "redis_socket_timeout": "socket_timeout",
    "redis_socket_connect_timeout": "socket_connect_timeout",
    "redis_socket_keepalive": "socket_keepalive",
    "redis_retry_on_timeout": "retry_on_timeout",
    "redis_max_connections": "max_connections",
    "redis_backend_health_check_interval": "health_check_interval",
    "redis_client_name": "client_name",
    "redis_username": "username",
    "redis_password": "password",
    "redis_backend_use_ssl": "redis_backend_use_ssl",
    "redis_backend_credential_provider": "credential_provider",
    # the database and cache backends' settings, under their own names
    "cache_backend": "cache_backend",
    "cache_backend_options": "cache_backend_options",
    "database_engine_options": "database_engine_options",
    "database_short_lived_sessions": "database_short_lived_sessions",
    "database_table_schemas": "database_table_schemas",
    "database_table_names": "database_table_names",
    "database_create_tables_at_setup": "database_create_tables_at_setup",
}


def _chord_expires(conf: Settings) -> dict[str, float]:
    """``result_chord_expires`` when set (the chord keys' lifetime; else ``result_expires``)."""
    seconds = _seconds(conf.result_chord_expires)
    return {} if seconds is None else {"result_chord_expires": seconds}


def _seconds(value: float | timedelta | None) -> float | None:
    """A duration setting in seconds; ``None`` stays ``None``."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _broker_settings(conf: Settings) -> dict[str, object]:
    """Connection settings (``broker_use_ssl``, retries …) as transport option keys.

    Keys given in ``broker_transport_options`` win over these.
    """
    options: dict[str, object] = {
        "broker_connection_max_retries": conf.broker_connection_max_retries,
        "socket_connect_timeout": conf.broker_connection_timeout,
    }
    on_startup = conf.broker_connection_retry_on_startup
    options["broker_connection_retry_on_startup"] = (
        conf.broker_connection_retry if on_startup is None else on_startup
    )
    if conf.broker_use_ssl:
        options["broker_use_ssl"] = conf.broker_use_ssl
    return options


def _seconds_option(options: Mapping[str, object], key: str, default: float) -> float:
    """A number of seconds from ``broker_transport_options``.

    Raises:
        ImproperlyConfigured: the value is not a number.
    """
    value = options.get(key, default)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise ImproperlyConfigured(
        f"broker_transport_options[{key!r}] must be a number of seconds, got {value!r}"
    )


def transport_options(conf: Settings) -> TransportOptions:
    """The transport options from ``broker_transport_options`` and the broker settings."""
    extra = {**_broker_settings(conf), **(conf.broker_transport_options or {})}
    return TransportOptions(
        visibility_timeout=_seconds_option(extra, "visibility_timeout", 3600.0),
        max_deliveries=int(conf.task_max_deliveries),
        polling_interval=_seconds_option(extra, "polling_interval", 0.02),
        extra=extra,
        settings=conf,
    )


def backend_options(conf: Settings) -> BackendOptions:
    """The result backend options: expiry, serializer, accepted content, and the
    ``redis_*`` result settings (the URL and ``result_backend_transport_options`` win)."""
    redis_settings = {
        key: conf[name] for name, key in _REDIS_RESULT_SETTINGS.items() if conf[name] is not None
    }
    return BackendOptions(
        expires=_seconds(conf.result_expires) or None,
        serializer=conf.result_serializer,
        accept=conf.result_accept_content or conf.accept_content,
        extra={
            **redis_settings,
            **_chord_expires(conf),
            **(conf.result_backend_transport_options or {}),
        },
        failure_expires=_seconds(conf.result_failure_expires),
        signer=signer_for(conf) if conf.security_sign_results else None,
        broker_url=configured_url(conf, "broker_url") or "",
        settings=conf,
        compression=conf.result_compression,
    )
