"""The database scheduler's suite (``suite/``) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.django_suite import WITH_MYSQL, database_url, run_suite

HERE = Path(__file__).parent


@pytest.mark.parametrize("database", WITH_MYSQL)
def test_database_scheduler_suite(database: str, tmp_path: Path) -> None:
    output = run_suite(
        "beat",
        HERE / "suite",
        "beat_settings",
        database_url(database, tmp_path),
        pythonpath=[HERE / "suite"],
    )
    assert " passed" in output and "skipped" not in output
