"""Fixtures for the result backend contract suite: one ``backend`` per store kind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.backends.base import Backend, BackendOptions
from celeriac.backends.registry import create_backend

BackendFactory = Callable[..., Backend]

KINDS = ["memory", "sqlite", "redis"]

# -- Redis: one database per xdist worker, one key prefix per test ----------------------
REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def redis_or_skip() -> Any:
    """A client of the test database, or skip (fail when ``CI`` is set) if Redis is down."""
    import redis

    host, _, port = REDIS_HOST.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379), db=redis_db())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_HOST} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST} is not reachable")
    return client


def redis_cleanup(client: Any, prefix: str) -> None:
    """Delete every key of one test (SCAN by its prefix)."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def backend_url(kind: str, tmp_path: Path) -> str:
    """A fresh result backend URL of ``kind`` that no other test uses."""
    if kind == "memory":
        return f"cache+memory://test-{uuid.uuid4().hex}"
    if kind == "sqlite":
        return f"db+sqlite:///{tmp_path / 'results.db'}"
    if kind == "redis":
        prefix = f"r{uuid.uuid4().hex[:10]}_"
        return f"redis://{REDIS_HOST}/{redis_db()}?global_keyprefix={prefix}"
    raise AssertionError(f"unknown backend kind {kind}")


@pytest.fixture(params=KINDS, ids=KINDS)
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Make backends on one fresh store; every call is a new client of it."""
    client = redis_or_skip() if request.param == "redis" else None
    url = backend_url(request.param, tmp_path)
    made: list[Backend] = []

    def make(**options: Any) -> Backend:
        backend = create_backend(url, BackendOptions(**options))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
    if client is not None:
        redis_cleanup(client, url.rpartition("global_keyprefix=")[2])


@pytest.fixture
def backend(backend_factory: BackendFactory) -> Backend:
    """A backend with default options on a fresh store."""
    return backend_factory()


def meta(task_id: str, status: str = "SUCCESS", result: Any = 4) -> dict[str, Any]:
    """A result meta in Celery's shape."""
    return {
        "status": status,
        "result": result,
        "traceback": None,
        "children": [],
        "date_done": "2024-01-01T00:00:00+00:00" if status == "SUCCESS" else None,
        "task_id": task_id,
    }
