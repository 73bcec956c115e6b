"""Celery's ``celery.apps``: the worker and beat as objects bound to an app."""
