"""What only the SQLite result store promises: one file with the broker, mapped errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from celeriac.backends.sqlite import SQLiteBackend
from celeriac.exceptions import BackendError
from celeriac.transports.sqlite import SQLiteTransport

from .conftest import meta


async def test_broker_and_results_share_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'celeriac.db'}"
    transport, backend = SQLiteTransport(url), SQLiteBackend(url)
    backend.store("t1", meta("t1"))
    transport.queue_length("celery")
    with sqlite3.connect(tmp_path / "celeriac.db") as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"celeriac_messages", "celeriac_results", "celeriac_groups"} <= names
    assert backend.get("t1") == meta("t1")
    transport.close()
    backend.close()


def test_a_stored_success_survives_a_racing_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    first, second = SQLiteBackend(url), SQLiteBackend(url)
    first.store("t1", meta("t1", "SUCCESS", 1))
    second.store("t1", meta("t1", "FAILURE", "worker lost"))
    assert second.get("t1") == meta("t1", "SUCCESS", 1)
    with sqlite3.connect(tmp_path / "results.db") as conn:
        assert conn.execute("SELECT status FROM celeriac_results").fetchall() == [("SUCCESS",)]


def test_errors_name_the_file(tmp_path: Path) -> None:
    backend = SQLiteBackend(f"sqlite:///{tmp_path / 'missing-dir' / 'results.db'}")
    with pytest.raises(BackendError, match=r"missing-dir/results\.db"):
        backend.get("t1")
