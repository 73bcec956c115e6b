"""Fixtures for the remote-control tests: apps on memory, SQLite and Redis, and in-process workers.

Redis apps get a ``global_keyprefix`` of their own (keys, and the pidbox channel names
too, so tests running at once never hear each other's broadcasts); their keys are deleted
at the end. Redis down: those tests skip, or fail when ``CI`` is set.
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

REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")
KINDS = ["memory", "sqlite", "redis"]

AppFactory = Callable[..., Celery]
WorkerFactory = Callable[..., TestWorkController]


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist (as the Redis tests do)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def redis_client_or_skip() -> Any:
    """A redis-py client of the test db; skip (fail under ``CI``) when Redis is down."""
    redis = pytest.importorskip("redis")
    host, _, port = REDIS_HOST.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379), db=redis_db())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_HOST} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST} is not reachable")
    return client


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The transport of the test's apps."""
    return str(request.param)


@pytest.fixture
def make_app(kind: str, tmp_path: Path) -> Iterator[AppFactory]:
    """Make apps sharing one fresh broker and result store of ``kind``."""
    settings: dict[str, Any] = {}
    client = None
    prefix = f"ctl{uuid.uuid4().hex[:10]}_"
    if kind == "memory":
        broker = backend = f"memory://ctl-{uuid.uuid4().hex}"
    elif kind == "sqlite":
        broker = backend = f"sqlite:///{tmp_path / 'broker.db'}"
    else:
        client = redis_client_or_skip()
        broker = backend = f"redis://{REDIS_HOST}/{redis_db()}"
        settings = {
            "broker_transport_options": {"global_keyprefix": prefix},
            "result_backend_transport_options": {"global_keyprefix": prefix},
        }
    made: list[Celery] = []

    def make(main: str = "ctl", **extra: Any) -> Celery:
        app = Celery(main, broker=broker, backend=backend, **{**settings, **extra})
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
    if client is not None:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def worker(make_app: AppFactory) -> Iterator[WorkerFactory]:
    """Start in-process workers (threads pool by default) that stop when the test ends."""
    with ExitStack() as stack:

        def start(
            app: Celery, pool: str = "threads", concurrency: int = 2, **options: Any
        ) -> TestWorkController:
            return stack.enter_context(
                start_worker(app, pool=pool, concurrency=concurrency, **options)
            )

        yield start
