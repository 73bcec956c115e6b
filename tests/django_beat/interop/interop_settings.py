"""Settings for a process with django-celery-beat's app (``INTEROP_APP=theirs``) or celeriac's."""

import os

from helpers.django_db import database_from_env

SECRET_KEY = "celeriac-tests"
USE_TZ = True
TIME_ZONE = "UTC"
BEAT_APP = (
    "django_celery_beat"
    if os.environ["INTEROP_APP"] == "theirs"
    else "celeriac.contrib.django.beat"
)
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", BEAT_APP]
DATABASES = {"default": database_from_env("unused")}
