"""Results in the database: django-celery-results' tables, the admin, ``django-db`` and
``django-cache`` backends."""
