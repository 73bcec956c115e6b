"""The periodic-task tables app, with django-celery-beat's label ``django_celery_beat``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["BeatConfig"]


class BeatConfig(AppConfig):
    """``'celeriac.contrib.django.beat'`` in ``INSTALLED_APPS``.

    The label is django-celery-beat's, so a project that swaps that app for this one keeps
    its tables, its migration history, its admin URLs and its permissions.
    """

    name = "celeriac.contrib.django.beat"
    label = "django_celery_beat"
    verbose_name = "Periodic Tasks"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Connect the change tracking (``signals.py``)."""
        from celeriac.contrib.django.beat.signals import connect

        connect()
