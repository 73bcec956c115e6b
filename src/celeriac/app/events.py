"""Celery's ``celery.app.events``: :class:`Events`, the class of ``app.events``."""

from __future__ import annotations

from celeriac.events import Events

__all__ = ["Events"]
