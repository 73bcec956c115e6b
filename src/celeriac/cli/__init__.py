"""The ``celeriac`` command line (click), with Celery's commands and flags."""
