"""Celery's ``celery.utils.dispatch``: the :class:`Signal` class (``celeriac.signals``)."""

from __future__ import annotations

from celeriac.utils.dispatch.signal import Signal

__all__ = ["Signal"]
