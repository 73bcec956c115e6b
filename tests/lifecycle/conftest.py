"""The app/worker fixtures of ``tests/conftest.py`` on every transport: memory, SQLite and Redis.

Redis apps get a ``global_keyprefix`` and a default queue of their own (deleted after
the test); Redis down: those tests skip, or fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from celeriac import Celery
from lifecycle.support import Sink, redis_settings
from redis_tests.redis_support import free_port, kombu_url

TRANSPORTS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=TRANSPORTS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """The transport the test's apps use (Redis included)."""
    return str(request.param)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A ``global_keyprefix`` of its own on the Redis test database (keys deleted after)."""
    client = redis.Redis.from_url(kombu_url())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable: {exc}")
        pytest.skip("Redis is not reachable")
    prefix = f"lc{uuid.uuid4().hex[:10]}_"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


@pytest.fixture
def make_app(transport_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Apps sharing the test's broker and result store (see ``tests/conftest.py``)."""
    made: list[Celery] = []
    base: dict[str, Any] = {}
    if transport_kind == "redis":
        broker = backend = kombu_url()
        base = redis_settings(request.getfixturevalue("redis_prefix"))
    elif transport_kind == "memory":
        broker = backend = f"memory://test-{uuid.uuid4().hex}"
    else:
        broker = backend = f"sqlite:///{tmp_path / 'broker.db'}"

    def make(main: str = "tests", **settings: Any) -> Celery:
        app = Celery(main, broker=broker, backend=backend, **{**base, **settings})
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on localhost (aiosmtpd) that keeps what it is sent: (sink, port)."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
