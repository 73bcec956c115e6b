"""Run a Django suite in a pytest process of its own (its own settings, its own database).

Each Django project under test (the database scheduler's suite, the example shop) has its
own settings module, and a process can set Django up only once: so each suite runs as
``python -m pytest <dir>`` in a child process, on SQLite or on the local PostgreSQL (a
database of its own, created and dropped by pytest-django), and the parent test fails
with the child's output when the child fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from helpers.services import mysql_url, postgres_url

__all__ = ["DATABASES", "WITH_MYSQL", "database_url", "run_suite"]

ROOT = Path(__file__).resolve().parents[2]
#: The databases every Django suite runs on.
DATABASES = ("sqlite", "postgres")
#: The same and MariaDB: the suites of the results and periodic-task tables.
WITH_MYSQL = (*DATABASES, "mysql")


def database_url(kind: str, tmp_path: Path) -> str:
    """``CELERIAC_TEST_DJANGO_DB`` for ``kind``: a SQLite file, or a fresh PostgreSQL or
    MariaDB database name (``celeriac_<hex>``: pytest-django makes ``test_celeriac_<hex>``)."""
    if kind == "sqlite":
        return f"sqlite:{tmp_path / 'db.sqlite3'}"
    if kind == "mysql":
        return f"{mysql_url().rsplit('/', 1)[0]}/celeriac_{uuid.uuid4().hex[:12]}"
    base = postgres_url().rsplit("/", 1)[0]
    return f"{base}/celeriac_{uuid.uuid4().hex[:12]}"


def run_suite(
    suite: str,
    path: Path,
    settings: str,
    db_url: str,
    *,
    pythonpath: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 600,
) -> str:
    """Run the suite at ``path`` with ``settings``; return its output, or fail with it."""
    paths = [ROOT / "src", ROOT / "tests", *pythonpath]
    child_env = {
        **os.environ,
        **(env or {}),
        "CELERIAC_DJANGO_SUITE": suite,
        "CELERIAC_TEST_DJANGO_DB": db_url,
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
    }
    child_env.pop("DJANGO_SETTINGS_MODULE", None)
    child_env.pop("PYTEST_XDIST_WORKER", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(path),
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        f"--ds={settings}",
        "-q",
        "-rfE",
        "--timeout=300",
        *args,
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"the {suite} suite failed ({db_url}):\n{output[-12000:]}")
    return output
