"""Periodic tasks in the database: django-celery-beat's tables, an admin, ``beat -S django``."""
