"""Fixtures for the Redis-only tests: a test database, a key prefix per test, own servers.

(The directory is not called ``redis``: tools that resolve modules by directory, such as
ruff's import sorting, would then take redis-py for a first-party package.)
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_support import REDIS_HOST, OwnRedis, free_port, kombu_url, redis_db

from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport


@pytest.fixture
def rclient() -> Iterator[redis.Redis]:
    """A raw client of the test database; skips (fails under ``CI``) when Redis is down."""
    host, _, port = REDIS_HOST.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379), db=redis_db())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_HOST} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST} is not reachable")
    yield client
    client.close()


@pytest.fixture
def prefix(rclient: redis.Redis) -> Iterator[str]:
    """A ``global_keyprefix`` no other test uses; its keys are deleted afterwards."""
    value = f"x{uuid.uuid4().hex[:10]}_"
    yield value
    keys = list(rclient.scan_iter(match=f"{value}*", count=1000))
    for start in range(0, len(keys), 500):
        rclient.delete(*keys[start : start + 500])


@pytest.fixture
def broker_url(prefix: str) -> str:
    """The test database as a broker URL (the prefix goes in the transport options)."""
    return kombu_url()


@pytest.fixture
def make_transport(broker_url: str, prefix: str) -> Iterator[Callable[..., RedisTransport]]:
    """``make_transport(visibility_timeout=…, max_deliveries=…, **transport_options)``."""
    made: list[RedisTransport] = []

    def make(
        visibility_timeout: float = 3600.0, max_deliveries: int = 5, **extra: Any
    ) -> RedisTransport:
        options = TransportOptions(
            visibility_timeout=visibility_timeout,
            max_deliveries=max_deliveries,
            extra={"global_keyprefix": prefix, **extra},
        )
        transport = RedisTransport(broker_url, options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def make_backend(broker_url: str, prefix: str) -> Iterator[Callable[..., RedisBackend]]:
    """``make_backend(expires=…, **transport_options)`` on the test database and prefix."""
    made: list[RedisBackend] = []

    def make(expires: float | None = 86400.0, **extra: Any) -> RedisBackend:
        options = BackendOptions(expires=expires, extra={"global_keyprefix": prefix, **extra})
        backend = RedisBackend(broker_url, options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def need_redis_server() -> None:
    """Skip (fail under ``CI``) when ``redis-server`` is not installed."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[Callable[..., OwnRedis]]:
    """Start private servers: ``own_servers(extra=(...), sentinel=False, port=None)``."""
    need_redis_server()
    started: list[OwnRedis] = []

    def start(
        extra: tuple[str, ...] = (), sentinel: bool = False, port: int | None = None
    ) -> OwnRedis:
        server = OwnRedis(free_port() if port is None else port, tmp_path, extra, sentinel)
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def own_redis(own_servers: Callable[..., OwnRedis]) -> OwnRedis:
    """A private Redis server (skipped when ``redis-server`` is not installed)."""
    return own_servers()
