"""Django's tasks framework on celeriac: ``TASKS = {"default": {"BACKEND":
"celeriac.contrib.django.tasks.CeleriacBackend"}}`` (``django.tasks`` on Django 6, the
``django-tasks`` backport package on Django 4.2-5.2)."""

from celeriac.contrib.django.tasks.backend import CeleriacBackend

__all__ = ["CeleriacBackend"]
