"""The pytest plugin under Celery's fixture names: celery_app, celery_worker, celery_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from celeriac import Celery

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def celery_config(tmp_path: Path) -> dict:
    url = f"sqlite:///{tmp_path / 'plugin.db'}"
    return {"broker_url": url, "result_backend": url, "result_extended": True}


@pytest.fixture
def celery_worker_pool() -> str:
    return "threads"


def test_celery_app_and_worker_fixtures(celery_app, celery_worker):
    assert isinstance(celery_app, Celery)
    assert celery_app.conf.result_extended is True

    @celery_app.task
    def mul(x: int, y: int) -> int:
        return x * y

    result = mul.delay(6, 7)
    assert result.get(timeout=5) == 42
    assert result.worker == celery_worker.hostname
