"""Fixtures for the Redis-only tests: a test database, a key prefix per test, own servers.

This directory has no ``__init__.py`` on purpose: as a package named ``redis`` it could
shadow redis-py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import redis
from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport

REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")
VECTORS = Path(__file__).parents[2].parent / "shared" / "celery-wire-vectors"


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


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
    return f"redis://{REDIS_HOST}/{redis_db()}"


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


def kombu_url() -> str:
    """The same database as a kombu/Celery URL."""
    return f"redis://{REDIS_HOST}/{redis_db()}"


# -- a Redis server of the test's own, to stop and restart -------------------------------
@dataclass
class OwnRedis:
    """A ``redis-server`` on a free port, with AOF on (so a restart keeps the data)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    client = redis.Redis(port=self.port)
                    client.ping()
                    client.close()
                    return
            except (OSError, redis.exceptions.RedisError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private Redis server (skipped when ``redis-server`` is not installed)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(_free_port(), tmp_path)
    server.start()
    yield server
    server.stop()
