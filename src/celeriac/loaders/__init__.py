"""Celery's ``celery.loaders``: loader classes by alias (``app``, ``default``)."""

from __future__ import annotations

from celeriac.utils.imports import symbol_by_name

__all__ = ["LOADER_ALIASES", "get_loader_cls"]

#: Loader aliases (as Celery's).
LOADER_ALIASES = {
    "app": "celeriac.loaders.app:AppLoader",
    "default": "celeriac.loaders.default:Loader",
}


def get_loader_cls(loader: str | type) -> type:
    """The loader class for an alias or import path (a class is returned as it is)."""
    cls = symbol_by_name(loader, LOADER_ALIASES)
    if not isinstance(cls, type):
        raise TypeError(f"{loader!r} is not a loader class")
    return cls
