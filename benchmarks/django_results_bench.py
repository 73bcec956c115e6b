"""The ``django-db`` result backend: what a result costs to store and read.

    python benchmarks/django_results_bench.py                        # SQLite file
    python benchmarks/django_results_bench.py --database postgresql://postgres@127.0.0.1/bench
    python benchmarks/django_results_bench.py --database mysql://user:password@127.0.0.1/bench

Stores N results one by one (what ``update_state`` and an unbatched worker do), then N
in batches of 50 (what the worker's settler does), reads each once, and deletes them with
``cleanup()``; the same for celeriac's SQLAlchemy backend on the same database
(``db+…``, Celery's tables) for comparison. Prints per-result microseconds (median of
the per-batch figures) as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def configure(database: str | None, directory: Path) -> str:
    """Set Django up on ``database`` (or a SQLite file); return its ``db+`` URL."""
    import django
    from django.conf import settings

    if database and database.startswith("mysql://"):
        db = mysql_settings(database)
        sa_url = "db+" + database
    elif database:
        from urllib.parse import urlsplit

        parts = urlsplit(database)
        db = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "postgres",
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
        }
        sa_url = "db+" + database
    else:
        path = directory / "db.sqlite3"
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
        sa_url = f"db+sqlite:///{directory / 'sa.sqlite3'}"
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "celeriac.contrib.django.results"],
        DATABASES={"default": db},
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return sa_url


def mysql_settings(database: str) -> dict[str, Any]:
    """Django's ``DATABASES`` entry for a MySQL/MariaDB URL (PyMySQL stands in for
    mysqlclient when that is missing)."""
    from urllib.parse import urlsplit

    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()
    parts = urlsplit(database)
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "root",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 3306),
        "OPTIONS": {"charset": "utf8mb4"},
    }


def meta(task_id: str) -> dict[str, Any]:
    return {
        "status": "SUCCESS",
        "result": {"total": 42, "items": list(range(10))},
        "traceback": None,
        "children": [],
        "date_done": None,
        "task_id": task_id,
        "name": "shop.tasks.report",
        "args": [1, 2],
        "kwargs": {"user": 7},
        "worker": "celery@bench",
        "retries": 0,
        "queue": "celery",
    }


def measure(backend: Any, count: int) -> dict[str, float]:
    """Per-result microseconds: single stores, batched stores, reads, cleanup."""
    single = [str(uuid.uuid4()) for _ in range(count)]
    started = time.perf_counter()
    for task_id in single:
        backend.store(task_id, meta(task_id))
    one = (time.perf_counter() - started) / count * 1e6
    batched = [str(uuid.uuid4()) for _ in range(count)]
    per_batch = []
    for offset in range(0, count, 50):
        chunk = batched[offset : offset + 50]
        started = time.perf_counter()
        backend.store_many([(task_id, meta(task_id)) for task_id in chunk])
        per_batch.append((time.perf_counter() - started) / len(chunk) * 1e6)
    started = time.perf_counter()
    for task_id in single:
        assert backend.get(task_id)["result"]["total"] == 42
    read = (time.perf_counter() - started) / count * 1e6
    backend.options.expires = 0.001
    time.sleep(0.01)
    started = time.perf_counter()
    removed = backend.cleanup()
    clean = (time.perf_counter() - started) / max(removed, 1) * 1e6
    return {
        "store_one_us": round(one, 1),
        "store_batched_us": round(statistics.median(per_batch), 1),
        "get_us": round(read, 1),
        "cleanup_per_row_us": round(clean, 2),
        "cleaned_rows": removed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", help="a PostgreSQL or MySQL/MariaDB URL (default: a SQLite file)"
    )
    parser.add_argument("--count", type=int, default=2000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        sa_url = configure(options.database, Path(directory))
        from celeriac.backends.base import BackendOptions
        from celeriac.backends.registry import create_backend

        report = {
            "database": (options.database or "sqlite").split(":", 1)[0],
            "count": options.count,
            "django-db": measure(create_backend("django-db", BackendOptions()), options.count),
            "db+ (SQLAlchemy)": measure(create_backend(sa_url, BackendOptions()), options.count),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
