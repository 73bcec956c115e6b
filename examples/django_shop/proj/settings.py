"""Settings of the example shop: Django's, plus celeriac's under the ``CELERY_`` prefix.

Environment variables choose what runs where (the defaults need no server):

- ``SHOP_BROKER_URL``: the broker (default: the embedded SQLite file ``celeriac.db``;
  ``redis://localhost:6379/0`` or ``amqp://guest@localhost//`` for a server);
- ``SHOP_DATABASE_URL``: ``sqlite:<path>`` (default ``db.sqlite3``) or
  ``postgresql://user@host:port/name``;
- ``SHOP_EMAIL_BACKEND``: Django's ``EMAIL_BACKEND`` (default: the console).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import django

from celeriac.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "django-insecure-example-shop-only")
DEBUG = os.environ.get("SHOP_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "celeriac.contrib.django.beat",  # periodic tasks in the database, edited in the admin
    "celeriac.contrib.django.results",  # task results in the database, listed in the admin
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "proj.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "proj.wsgi.application"


def _database(url: str) -> dict:
    if url.startswith("sqlite:"):
        options = {"timeout": 20}
        if django.VERSION >= (5, 1):
            # Worker processes write concurrently: take the write lock when a transaction
            # starts, so a busy database waits instead of failing with "database is locked".
            options["transaction_mode"] = "IMMEDIATE"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": url[len("sqlite:") :],
            "OPTIONS": options,
        }
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }


DATABASES = {
    "default": _database(os.environ.get("SHOP_DATABASE_URL", f"sqlite:{BASE_DIR / 'db.sqlite3'}"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Europe/Kyiv"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# Mail: Django's settings; the activation e-mail is sent by a task with them.
EMAIL_BACKEND = os.environ.get(
    "SHOP_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = "shop@example.com"

# -- celeriac ---------------------------------------------------------------------------
# One setting picks the broker: the embedded SQLite file by default, or Redis/RabbitMQ.
CELERY_BROKER_URL = os.environ.get("SHOP_BROKER_URL", f"sqlite:///{BASE_DIR / 'celeriac.db'}")
# Results in the project's database (django_celery_results' tables), shown in the admin.
CELERY_RESULT_BACKEND = os.environ.get("SHOP_RESULT_BACKEND", "django-db")
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ROUTES = {
    "shop.tasks.small_task": {"queue": "main_worker"},
    "shop.tasks.big_task": {"queue": "main_worker"},
}
# beat -S django reads this table; these entries are written into it at start.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "reject-pending-refunds": {
        "task": "shop.tasks.reject_pending_refunds",
        "schedule": crontab(minute=0, hour=18),  # 18:00 in CELERY_TIMEZONE, Kyiv
    },
    "store-hourly-ad-stats": {
        "task": "shop.tasks.store_hourly_ad_stats",
        "schedule": crontab(minute=0),
    },
    "roll-up-daily-ad-stats": {
        "task": "shop.tasks.roll_up_daily_ad_stats",
        "schedule": crontab(minute=5, hour=0),
    },
    "small-task-every-minute": {
        "task": "shop.tasks.small_task",
        "schedule": crontab(minute="*"),
        "options": {"queue": "main_worker"},
    },
}
