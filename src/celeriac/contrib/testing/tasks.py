"""Tasks the test helpers use (``celery.contrib.testing.tasks``)."""

from __future__ import annotations

from celeriac.app.shared import shared_task

__all__ = ["ping"]


@shared_task(name="celery.ping")
def ping() -> str:
    """Answer ``'pong'`` (``start_worker`` checks a test worker with it)."""
    return "pong"
