"""A throwaway Django project in ``tmp_path``, as the tutorials lay it out, with real
``celeriac -A proj worker`` processes (through :class:`helpers.processes.Project`).

``proj/settings.py`` reads everything the test varies from the environment the worker
and the producer scripts get: the database (``DJ_DATABASE_URL``: a SQLite file, or a
PostgreSQL or MariaDB database of its own, created and dropped here), ``CONN_MAX_AGE``, the broker,
the result backend and ``result_extended``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers.processes import Project
from helpers.services import (
    create_mysql_database,
    drop_mysql_database,
    mysql_admin,
    postgres_url,
)

SETTINGS = """\
import os
from urllib.parse import urlsplit

SECRET_KEY = "test"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    *[a for a in os.environ.get("DJ_EXTRA_APPS", "").split(",") if a],
    "app1",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
ROOT_URLCONF = "proj.urls"
_url = urlsplit(os.environ["DJ_DATABASE_URL"])
_age = os.environ.get("DJ_CONN_MAX_AGE", "0")
if _url.scheme == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _url.path}}
elif _url.scheme == "mysql":
    try:
        import MySQLdb  # noqa: F401  (mysqlclient, Django's driver)
    except ImportError:  # PyMySQL stands in for it
        import pymysql

        pymysql.install_as_MySQLdb()
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql", "NAME": _url.path.lstrip("/"),
        "USER": _url.username, "PASSWORD": _url.password or "", "HOST": _url.hostname,
        "PORT": _url.port or 3306, "OPTIONS": {"charset": "utf8mb4"},
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres", "HOST": _url.hostname, "PORT": _url.port or 5432,
    }}
DATABASES["default"]["CONN_MAX_AGE"] = None if _age == "none" else int(_age)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = os.environ.get("DJ_HEALTH_CHECKS") == "1"
CACHES = {"default": {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "dj_cache",
}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CELERY_BROKER_URL = os.environ["DJ_BROKER_URL"]
CELERY_RESULT_BACKEND = os.environ.get("DJ_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_RESULT_EXTENDED = os.environ.get("DJ_RESULT_EXTENDED") == "1"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
if os.environ.get("DJ_TASKS"):
    TASKS = {"default": {
        "BACKEND": "celeriac.contrib.django.tasks.CeleriacBackend",
        "QUEUES": ["default", "other"],
        "OPTIONS": {"ENQUEUE_ON_COMMIT": os.environ["DJ_TASKS"] == "on_commit"},
    }}
if os.environ.get("DJ_KEYPREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": os.environ["DJ_KEYPREFIX"]}
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
"""

CELERY = '''\
import os
from pathlib import Path

from celeriac import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def open_a_connection_in_the_parent(sender=None, **kwargs):
    """With DJ_PARENT_PID_FILE: the main process holds a connection when it forks."""
    target = os.environ.get("DJ_PARENT_PID_FILE")
    if target:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            Path(target).write_text(str(cursor.fetchone()[0]))
'''

TASKS = '''\
import os

from django.contrib.contenttypes.models import ContentType  # needs django.setup()
from django.db import connection

from celeriac import shared_task


@shared_task(name="app1.backend_pid")
def backend_pid():
    """This process and its database session."""
    with connection.cursor() as cursor:
        mysql = connection.vendor == "mysql"
        cursor.execute("SELECT CONNECTION_ID()" if mysql else "SELECT pg_backend_pid()")
        return [os.getpid(), cursor.fetchone()[0]]


@shared_task(name="app1.content_types")
def content_types():
    return ContentType.objects.count()


@shared_task(name="app1.add")
def add(x, y):
    return x + y


@shared_task(name="app1.fail")
def fail(message):
    raise ValueError(message)


@shared_task(bind=True, name="app1.progress")
def progress(self, total):
    self.update_state(state="PROGRESS", meta={"current": 1, "total": total})
    return total
'''

URLS = """\
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""


class DjangoProject(Project):
    """The tutorial's ``proj`` package and an ``app1`` app, on ``database``."""

    def __init__(self, root: Path, database: str) -> None:
        super().__init__(root, module="unused_tasks")
        self.database_url = self._create_database(database)
        self.settings: dict[str, str] = {}
        (root / "proj").mkdir()
        (root / "proj" / "__init__.py").write_text(
            "from .celery import app as celery_app\n\n__all__ = ('celery_app',)\n"
        )
        (root / "proj" / "settings.py").write_text(SETTINGS)
        (root / "proj" / "celery.py").write_text(CELERY)
        (root / "proj" / "urls.py").write_text(URLS)
        (root / "app1").mkdir()
        (root / "app1" / "__init__.py").write_text("")
        (root / "app1" / "tasks.py").write_text(TASKS)

    def _create_database(self, kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:{self.root / 'db.sqlite3'}"
        if kind == "mysql":
            self.mysql_url: str | None = create_mysql_database("dj")
            return self.mysql_url
        import psycopg

        base = postgres_url().rsplit("/", 1)[0]
        self.pg_name = f"celeriac_dj_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.pg_name}")
        return f"{base}/{self.pg_name}"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one query on the project's PostgreSQL or MariaDB database (the test's own
        session)."""
        if getattr(self, "mysql_url", None):
            return mysql_admin(query, *params)
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def django_env(self, **extra: str) -> dict[str, str]:
        env = {
            "DJANGO_SETTINGS_MODULE": "proj.settings",
            "DJ_DATABASE_URL": self.database_url,
            "DJ_BROKER_URL": self.broker_url,
            **self.settings,
            **extra,
        }
        return env

    def run(self, script: str, **extra: str) -> Any:
        """Run ``script`` after ``django.setup()`` in a new process; return what it
        printed last as JSON."""
        code = "import django\ndjango.setup()\nimport json\n" + textwrap.dedent(script)
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=self.env(self.django_env(**extra)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    def manage(self, *args: str) -> str:
        code = "import sys\nfrom django.core.management import execute_from_command_line\n"
        code += "execute_from_command_line(['manage.py', *sys.argv[1:]])\n"
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=self.root,
            env=self.env(self.django_env()),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start_django_worker(self, *args: str, **kwargs: Any) -> Any:
        env = self.django_env(**kwargs.pop("env", {}))
        return self.start_worker(*args, app="proj", env=env, **kwargs)

    def session_alive(self, session: int) -> bool:
        """Whether the database session (PostgreSQL's backend pid, MySQL's connection id)
        is open."""
        if getattr(self, "mysql_url", None):
            query = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
        else:
            query = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        return int(self.sql(query, session)[0][0]) == 1

    def end_session(self, session: int) -> None:
        """The server ends the session (an idle timeout, a restart, an administrator)."""
        if getattr(self, "mysql_url", None):
            import pymysql

            try:
                self.sql("KILL %s", session)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != 1094:  # "Unknown thread id": it was closed already
                    raise
        else:
            self.sql("SELECT pg_terminate_backend(%s)", session)

    def close(self) -> None:
        super().close()
        if getattr(self, "mysql_url", None):
            drop_mysql_database(self.database_url)
        if getattr(self, "pg_name", None):
            import psycopg

            base = self.database_url.rsplit("/", 1)[0]
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


@contextmanager
def django_project(root: Path, database: str, **settings: str) -> Iterator[DjangoProject]:
    """A :class:`DjangoProject`, closed (processes stopped, database dropped) afterwards."""
    project = DjangoProject(root, database)
    project.settings.update(settings)
    try:
        yield project
    finally:
        project.close()


def dumps(value: object) -> str:
    return json.dumps(value)
