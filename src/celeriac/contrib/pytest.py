"""pytest plugin with Celery's fixture names (``celery_app``, ``celery_worker``, …)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from celeriac.app.base import Celery
from celeriac.contrib.testing import TestWorkController, start_worker

__all__ = [
    "celery_app",
    "celery_config",
    "celery_enable_logging",
    "celery_includes",
    "celery_parameters",
    "celery_worker",
    "celery_worker_parameters",
    "celery_worker_pool",
]


@pytest.fixture
def celery_config() -> Mapping[str, Any]:
    """Settings for the test app; override in your conftest (default: memory broker/backend)."""
    return {"broker_url": "memory://", "result_backend": "memory://"}


@pytest.fixture
def celery_parameters() -> Mapping[str, Any]:
    """Extra keyword arguments for the test app's ``Celery(...)``."""
    return {}


@pytest.fixture
def celery_includes() -> list[str]:
    """Modules the test worker imports."""
    return []


@pytest.fixture
def celery_worker_pool() -> str:
    """The test worker's pool: ``solo`` or ``threads``."""
    return "solo"


@pytest.fixture
def celery_worker_parameters() -> Mapping[str, Any]:
    """Extra keyword arguments for :func:`start_worker`."""
    return {}


@pytest.fixture
def celery_enable_logging() -> bool:
    """Whether the test worker logs (at INFO)."""
    return False


@pytest.fixture
def celery_app(
    celery_config: Mapping[str, Any],
    celery_parameters: Mapping[str, Any],
    celery_includes: list[str],
) -> Iterator[Celery]:
    """A fresh app configured from ``celery_config``, current for the test."""
    app = Celery("celery.tests", set_as_current=True, **dict(celery_parameters))
    app.conf.update(dict(celery_config))
    if celery_includes:
        app.conf.include = list(celery_includes)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def celery_worker(
    celery_app: Celery,
    celery_worker_pool: str,
    celery_worker_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
) -> Iterator[TestWorkController]:
    """An in-process worker consuming ``celery_app``'s queues for the test."""
    loglevel = "INFO" if celery_enable_logging else "WARNING"
    with start_worker(
        celery_app, pool=celery_worker_pool, loglevel=loglevel, **dict(celery_worker_parameters)
    ) as worker:
        yield worker
