"""Celery's ``celery.fixups.django``: the Django fix-up (:mod:`celeriac.contrib.django.fixup`)."""

from __future__ import annotations

from celeriac.contrib.django.fixup import DjangoFixup, fixup

__all__ = ["DjangoFixup", "fixup"]
