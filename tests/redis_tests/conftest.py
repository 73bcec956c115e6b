"""Fixtures for the Redis-only tests: a test database, a key prefix per test, own servers.

(The directory is not called ``redis``: tools that resolve modules by directory, such as
ruff's import sorting, would then take redis-py for a first-party package.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_support import OwnRedis

from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport
from helpers.services import RedisKeyspace, free_port, redis_keyspace, require_executable


@pytest.fixture
def keyspace() -> Iterator[RedisKeyspace]:
    """The test's client and key prefix; skips (fails under ``CI``) when Redis is down."""
    with redis_keyspace("x") as space:
        yield space


@pytest.fixture
def rclient(keyspace: RedisKeyspace) -> redis.Redis:
    """A raw client of the test database."""
    return keyspace.client


@pytest.fixture
def prefix(keyspace: RedisKeyspace) -> str:
    """A ``global_keyprefix`` no other test uses; its keys are deleted afterwards."""
    return keyspace.prefix


@pytest.fixture
def broker_url(keyspace: RedisKeyspace) -> str:
    """The test database as a broker URL (the prefix goes in the transport options)."""
    return keyspace.url


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


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[Callable[..., OwnRedis]]:
    """Start private servers: ``own_servers(extra=(...), sentinel=False, port=None)``."""
    require_executable("redis-server")
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
