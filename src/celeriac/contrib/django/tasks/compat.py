"""The tasks framework's modules: Django 6's ``django.tasks`` or the ``django_tasks``
backport, whichever is installed (Django's own first)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["backends_base", "base", "exceptions", "signals", "utils"]


def _root() -> str:
    try:
        importlib.import_module("django.tasks.base")
    except ImportError:
        return "django_tasks"
    return "django.tasks"


ROOT = _root()
base: ModuleType = importlib.import_module(f"{ROOT}.base")
backends_base: ModuleType = importlib.import_module(f"{ROOT}.backends.base")
exceptions: ModuleType = importlib.import_module(f"{ROOT}.exceptions")
signals: ModuleType = importlib.import_module(f"{ROOT}.signals")
utils: ModuleType = importlib.import_module(f"{ROOT}.utils")
