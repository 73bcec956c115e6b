"""The shop project: this makes sure the app is always imported when Django starts, so
that ``shared_task`` uses it."""

from .celery import app as celery_app

__all__ = ("celery_app",)
