"""URL scheme to result backend class: the one string-to-class table for backends."""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from celeriac.backends.base import Backend, BackendOptions
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["BACKENDS", "BACKENDS_GROUP", "backend_class", "create_backend"]

#: The entry-point group where other packages register backends by scheme
#: (celeriac's Django integration: ``django-db``, ``django-cache``).
BACKENDS_GROUP = "celeriac.result_backends"

#: scheme -> ("module:Class", extra that provides its dependencies or "")
BACKENDS: dict[str, tuple[str, str]] = {
    "memory": ("celeriac.backends.memory:MemoryBackend", ""),
    "cache+memory": ("celeriac.backends.memory:MemoryBackend", ""),
    "sqlite": ("celeriac.backends.sqlite:SQLiteBackend", ""),
    # Celery's SQLAlchemy backend and tables (any ``db+<dialect>[+driver]://``)
    "db+": ("celeriac.backends.database:DatabaseBackend", "sqlalchemy"),
    "disabled": ("celeriac.backends.disabled:DisabledBackend", ""),
    # results as messages to the caller's reply queue, through the AMQP broker
    "rpc": ("celeriac.backends.rpc:RPCBackend", "amqp"),
    "redis": ("celeriac.backends.redis:RedisBackend", "redis"),
    "rediss": ("celeriac.backends.redis:RedisBackend", "redis"),
    "redis+socket": ("celeriac.backends.redis:RedisBackend", "redis"),
    "sentinel": ("celeriac.backends.redis:RedisBackend", "redis"),
}


def backend_class(url: str) -> type[Backend]:
    """Return the backend class serving ``url``'s scheme (``disabled`` has no ``://``).

    Raises:
        ImproperlyConfigured: the scheme is unknown, or its extra is not installed.
    """
    scheme = urlsplit(url).scheme if "://" in url else url
    backends = {**_installed(), **BACKENDS}
    if scheme.startswith("db+") and scheme not in backends:
        scheme = "db+"
    try:
        target, extra = backends[scheme]
    except KeyError:
        known = ", ".join(sorted(backends))
        raise ImproperlyConfigured(
            f"unknown result backend {scheme!r} in {url!r} (known: {known})"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'celeriac[{extra}]'" if extra else ""
        raise ImproperlyConfigured(f"result backend {scheme} needs {exc.name}{hint}") from exc
    cls: type[Backend] = getattr(module, class_name)
    return cls


@functools.cache
def _installed() -> dict[str, tuple[str, str]]:
    """Backends other packages register under :data:`BACKENDS_GROUP` (read once)."""
    return {entry.name: (entry.value, "") for entry in entry_points(group=BACKENDS_GROUP)}


def create_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """Instantiate the result backend for ``url``."""
    return backend_class(url)(url, options)
