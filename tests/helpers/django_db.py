"""Django ``DATABASES`` entries for the Django suites, from one environment variable.

``CELERIAC_TEST_DJANGO_DB`` is ``sqlite:<path>``, a PostgreSQL URL
(``postgresql://user@host:port/name``) or a MariaDB/MySQL one
(``mysql://user:password@host:port/name``; Django's driver is mysqlclient, PyMySQL stands
in for it when it is missing).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

__all__ = ["database_from_env", "use_pymysql_if_needed"]


def use_pymysql_if_needed() -> None:
    """Let PyMySQL stand in for mysqlclient (``MySQLdb``) when that is not installed."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()


def database_from_env(default_sqlite: str) -> dict[str, Any]:
    """The ``default`` database the suite runs on."""
    url = os.environ.get("CELERIAC_TEST_DJANGO_DB") or f"sqlite:{default_sqlite}"
    if url.startswith("sqlite:"):
        path = url[len("sqlite:") :]
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "TEST": {"NAME": path + ".test"},
            "OPTIONS": {"timeout": 20},
        }
    parts = urlsplit(url)
    if parts.scheme == "mysql":
        use_pymysql_if_needed()
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "root",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 3306),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }
