"""The example shop's own pytest-django suite (``examples/django_shop/tests``), with a real
worker, beat and browser, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.django_suite import DATABASES, ROOT, database_url, run_suite

SHOP = ROOT / "examples" / "django_shop"


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_shop_suite(database: str, tmp_path: Path) -> None:
    db_url = database_url(database, tmp_path)
    output = run_suite(
        "shop",
        SHOP / "tests",
        "proj.settings",
        db_url,
        pythonpath=[SHOP, SHOP / "tests"],
        env={
            "SHOP_DATABASE_URL": db_url,
            "SHOP_BROKER_URL": f"sqlite:///{tmp_path / 'broker.db'}",
            "SHOP_ARTIFACTS": str(ROOT / "test-artifacts" / "django_shop" / database),
        },
        args=["-c", str(SHOP / "pytest.ini"), "--rootdir", str(SHOP)],
    )
    assert " passed" in output and "skipped" not in output, output
