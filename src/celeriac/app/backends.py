"""Celery's ``celery.app.backends``: the result backend class for a name or URL."""

from __future__ import annotations

from typing import Any

from celeriac.backends.base import Backend
from celeriac.backends.registry import backend_class

__all__ = ["by_name", "by_url"]


def by_name(backend: str | type[Backend] | None = None, loader: Any = None, **_: Any) -> Any:
    """The backend class for a URL scheme or name (``redis``, ``db+sqlite``) or import
    path (``pkg.mod:Class``); a class is returned as it is."""
    if backend is None:
        backend = "disabled"
    if not isinstance(backend, str):
        return backend
    if ":" in backend and "://" not in backend:
        from celeriac.utils.imports import import_from_string

        return import_from_string(backend)
    return backend_class(backend)


def by_url(backend: str | type[Backend] | None = None, loader: Any = None) -> tuple[Any, Any]:
    """``(backend class, url)`` for a backend URL (``redis://…``); ``url`` is ``None``
    when ``backend`` is only a name."""
    url = None
    if isinstance(backend, str) and "://" in backend:
        url = backend
    return by_name(backend, loader), url
