"""A database that django-celery-beat made and filled: celeriac's app adopts it (one new
migration) and its scheduler loads the rows as django-celery-beat's scheduler would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.django_suite import ROOT, WITH_MYSQL, database_url
from helpers.services import mysql_admin

HERE = Path(__file__).parent / "interop"

pytest.importorskip("django_celery_beat")


def run(script: str, app: str, db_url: str) -> str:
    env = {
        **os.environ,
        "INTEROP_APP": app,
        "CELERIAC_TEST_DJANGO_DB": db_url,
        "DJANGO_SETTINGS_MODULE": "interop_settings",
        "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT / "src", ROOT / "tests", HERE)),
    }
    done = subprocess.run(
        [sys.executable, str(HERE / script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def drop(db_url: str) -> None:
    if db_url.startswith("mysql"):
        mysql_admin(f"DROP DATABASE IF EXISTS `{db_url.rsplit('/', 1)[1]}`")
    if db_url.startswith("postgres"):
        base, name = db_url.rsplit("/", 1)
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def create(db_url: str) -> None:
    if db_url.startswith("mysql"):
        mysql_admin(f"CREATE DATABASE `{db_url.rsplit('/', 1)[1]}` CHARACTER SET utf8mb4")
    if db_url.startswith("postgres"):
        base, name = db_url.rsplit("/", 1)
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


@pytest.mark.interop
@pytest.mark.parametrize("database", WITH_MYSQL)
def test_django_celery_beat_rows_are_picked_up(database: str, tmp_path: Path) -> None:
    db_url = database_url(database, tmp_path)
    create(db_url)
    try:
        assert run("create_rows.py", "theirs", db_url) == "created 5"
        found = json.loads(run("read_rows.py", "ours", db_url))
    finally:
        drop(db_url)
    assert found["applied"] == ["django_celery_beat.0020_celeriac_periodictaskchange"]
    entries = found["entries"]
    assert set(entries) == {"interval", "cron", "sun", "once"}  # "off" is disabled
    assert entries["interval"]["args"] == [1, "a"] and entries["interval"]["kwargs"] == {"k": 2}
    assert entries["interval"]["options"] == {
        "queue": "io",
        "priority": 5,
        "expires": 60,
        "headers": {"h": "v", "periodic_task_name": "interval"},
    }
    assert entries["interval"]["schedule"] == "<freq: 10 seconds>"
    assert entries["cron"]["schedule"] == "<crontab: 0 18 * * * (m/h/dM/MY/d)>"
    assert entries["sun"]["schedule"].startswith("<solar: sunset at latitude 50.45")
    assert entries["once"]["schedule"] == "<clocked: 2030-01-01T00:00:00+00:00>"
