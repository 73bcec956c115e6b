"""Celery's ``celery.utils.dispatch.signal``: :class:`Signal`, the class of every signal.

``Signal(name=..., providing_args=...)`` makes a project's own signal, with
``connect``/``disconnect(dispatch_uid=...)``/``send``/``send_robust`` as in Celery.
"""

from __future__ import annotations

from celeriac.signals import Signal

__all__ = ["Signal"]
