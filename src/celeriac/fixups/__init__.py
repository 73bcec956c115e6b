"""Celery's ``celery.fixups``: framework fix-ups an app loads (``celeriac.fixups.django``).

celeriac's implementations live in :mod:`celeriac.contrib`; these modules give them
Celery's import paths (``app.fixups`` may list ``'celery.fixups.django:fixup'``'s
celeriac spelling).
"""
