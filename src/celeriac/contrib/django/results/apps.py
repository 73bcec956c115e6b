"""The task-results app, with django-celery-results' label ``django_celery_results``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ResultsConfig"]


class ResultsConfig(AppConfig):
    """``'celeriac.contrib.django.results'`` in ``INSTALLED_APPS``.

    The label is django-celery-results', so a project that swaps that app for this one
    keeps its tables, its migration history, its admin URLs and its permissions.
    """

    name = "celeriac.contrib.django.results"
    label = "django_celery_results"
    verbose_name = "Task Results"
    default_auto_field = "django.db.models.AutoField"
