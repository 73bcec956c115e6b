"""Celery's ``celery.loaders.app``: :class:`AppLoader`, the loader of every app."""

from __future__ import annotations

from celeriac.loaders.base import BaseLoader

__all__ = ["AppLoader"]


class AppLoader(BaseLoader):
    """The default loader: configuration comes from the app (``config_from_object``)."""
