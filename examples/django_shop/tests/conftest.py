"""Fixtures of the shop's tests: the test database shared with a real worker and beat.

The tests use pytest-django with ``transaction=True`` (what they write is committed, so
the worker and beat processes see it), one worker for the session (``celeriac -A proj
worker -Q main_worker,celery -n main_worker@%h``) and a beat per test that needs one.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.core import mail
from processes import Process, shop_env


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SQLite's test database is a file (the worker opens it too), not in memory."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(path)


def _database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgresql://{user}@{host}:{port}/{settings_dict['NAME']}"


class Shop:
    """The session's processes and the files they share with the tests."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.outbox = root / "outbox"
        self.outbox.mkdir()
        self.clock = root / "now"
        self.env = shop_env(
            SHOP_DATABASE_URL=database_url,
            SHOP_EMAIL_BACKEND="support.OutboxRelayBackend",
            SHOP_OUTBOX_DIR=str(self.outbox),
            SHOP_FAKE_NOW=str(self.clock),
            DJANGO_SETTINGS_MODULE="proj.settings",
        )
        self.processes: list[Process] = []

    def start(self, name: str, *args: str, ready: str) -> Process:
        process = Process(list(args), self.env, self.root / f"{name}-{uuid.uuid4().hex[:6]}.log")
        self.processes.append(process)
        process.wait_for(ready)
        return process

    def set_clock(self, when: datetime) -> None:
        partial = self.clock.with_suffix(".part")
        partial.write_text(when.isoformat())
        partial.rename(self.clock)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture(scope="session")
def shop(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Shop]:
    """The session's worker, on the test database and the test run's broker."""
    from django.db import connection

    with django_db_blocker.unblock():
        url = _database_url(connection.settings_dict)
    made = Shop(tmp_path_factory.mktemp("shop"), url)
    made.start(
        "worker",
        "-A",
        "proj",
        "worker",
        "-l",
        "INFO",
        "-Q",
        "main_worker,celery",
        "-n",
        "main_worker@%h",
        "-c",
        "2",
        ready="ready.",
    )
    yield made
    made.close()


@pytest.fixture
def beat(shop: Shop) -> Iterator:
    """``beat(now)``: start beat (``-S`` the database scheduler on the test's clock)."""
    started: list[Process] = []

    def start(now: datetime) -> Process:
        shop.set_clock(now)
        process = shop.start(
            "beat",
            "-A",
            "proj",
            "beat",
            "-l",
            "INFO",
            "-S",
            "support:FakeClockScheduler",
            "--max-interval",
            "0.2",
            ready="beat: leading with",
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def worker_outbox(shop: Shop):
    """Read the mail the worker sent into ``mail.outbox``; returns how many arrived."""
    seen: set[str] = set()

    def collect() -> int:
        for path in sorted(shop.outbox.glob("*.pickle")):
            if path.name not in seen:
                seen.add(path.name)
                mail.outbox.append(pickle.loads(path.read_bytes()))
        return len(mail.outbox)

    return collect
