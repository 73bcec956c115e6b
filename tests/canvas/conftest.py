"""Canvas fixtures: an app per test on memory, SQLite and Redis, and in-process workers.

The shared ``make_app`` runs on memory and SQLite only; canvas tests also cover Redis
(one ``global_keyprefix`` per test, its keys deleted afterwards). Redis down: skip, or
fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.contrib.testing import TestWorkController, start_worker

KINDS = ["memory", "sqlite", "redis"]
REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")


def _redis_db() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


@pytest.fixture(params=KINDS)
def canvas_kind(request: pytest.FixtureRequest) -> str:
    """The broker/backend kind of the test."""
    return str(request.param)


@pytest.fixture
def redis_prefix(canvas_kind: str) -> Iterator[str | None]:
    """A fresh ``global_keyprefix`` for Redis (its keys are deleted afterwards)."""
    if canvas_kind != "redis":
        yield None
        return
    import redis

    client = redis.Redis.from_url(f"redis://{REDIS_HOST}/{_redis_db()}")
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_HOST} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST} is not reachable")
    prefix = f"cv{uuid.uuid4().hex[:10]}_"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


@pytest.fixture
def make_app(
    canvas_kind: str, redis_prefix: str | None, tmp_path: Path
) -> Iterator[Callable[..., Celery]]:
    """Apps sharing the test's broker and result store."""
    settings: dict[str, Any] = {}
    if canvas_kind == "memory":
        broker = backend = f"memory://canvas-{uuid.uuid4().hex}"
    elif canvas_kind == "sqlite":
        broker = backend = f"sqlite:///{tmp_path / 'canvas.db'}"
    else:
        broker = backend = f"redis://{REDIS_HOST}/{_redis_db()}"
        settings = {
            "broker_transport_options": {"global_keyprefix": redis_prefix},
            "result_backend_transport_options": {"global_keyprefix": redis_prefix},
        }
    made: list[Celery] = []

    def make(main: str = "canvas", **extra: Any) -> Celery:
        app = Celery(main, broker=broker, backend=backend, **{**settings, **extra})
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., Celery]) -> Celery:
    """A fresh app on the test's broker."""
    return make_app()


@pytest.fixture
def worker(make_app: Callable[..., Celery]) -> Iterator[Callable[..., TestWorkController]]:
    """Start in-process workers that stop when the test ends."""
    with ExitStack() as stack:

        def start(
            app: Celery, pool: str = "threads", concurrency: int = 2, **options: Any
        ) -> TestWorkController:
            return stack.enter_context(
                start_worker(app, pool=pool, concurrency=concurrency, **options)
            )

        yield start
