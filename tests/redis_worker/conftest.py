"""Real ``celeriac -A tasks worker`` subprocesses on ``redis://`` (broker and results).

Every test gets its own ``global_keyprefix`` and queue name on the Redis test database
(``1 + xdist worker index``), so tests running side by side never see each other's
messages; the keys under the prefix are deleted afterwards. :class:`RedisProject` is
:class:`helpers.processes.Project` with a Redis URL instead of a SQLite file: the
tasks module's app gets the prefix, the queue and the test's transport options, and a
``store()`` client of the *main* test Redis (which outlives a private server's restart)
for tasks to record what they did. ``own_redis`` starts a private ``redis-server`` (AOF
on, fsync always) that a test may kill and start again on the same port and directory.

Redis down (or ``redis-server`` missing, for ``own_redis``): the tests skip, or fail
when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from helpers.processes import Project
from redis_tests.redis_support import REDIS_HOST, OwnRedis, free_port, redis_db

#: Lines every tasks module gets after the project header (which defines ``app``).
PREAMBLE = '''\
import redis

STORE_URL = {store_url!r}
PREFIX = {prefix!r}
_clients = {{}}


def store():
    """A client of the main test Redis for this process (a new one after fork)."""
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients[os.getpid()] = redis.Redis.from_url(STORE_URL)
    return client

'''


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def main_url() -> str:
    """The main test Redis database of this xdist worker."""
    return f"redis://{REDIS_HOST}/{redis_db()}"


class RedisProject(Project):
    """A tasks module whose app uses Redis (``url``) as broker and result backend.

    Args:
        root: the directory (``tmp_path``).
        url: the broker and backend URL (the main test database or a private server).
        prefix: ``global_keyprefix`` of broker and backend, and of ``store()`` keys.
        queue: ``task_default_queue`` (unique per test).
        transport_options: extra ``broker_transport_options``.
        settings: extra ``app.conf`` settings for the worker's app and the producers.
    """

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        prefix: str,
        queue: str,
        transport_options: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.prefix = prefix
        self.queue = queue
        self.base_settings: dict[str, Any] = {
            "task_default_queue": queue,
            "broker_transport_options": {"global_keyprefix": prefix, **(transport_options or {})},
            "result_backend_transport_options": {"global_keyprefix": prefix},
            **(settings or {}),
        }
        super().__init__(root)
        self.broker_url = url  # Project made up a SQLite file name; rewrite for Redis
        self.write_module("")

    def write_module(self, body: str = "", settings: dict[str, Any] | None = None) -> None:
        """(Re)write the tasks module: header, ``store()`` preamble, then ``body``."""
        preamble = PREAMBLE.format(store_url=main_url(), prefix=self.prefix)
        super().write_module(
            preamble + textwrap.dedent(body), {**self.base_settings, **(settings or {})}
        )

    def producer(self, **settings: Any) -> Any:
        """An app on the project's broker, prefix and queue (for send_task and results)."""
        return super().producer(**{**self.base_settings, **settings})

    def key(self, name: str) -> str:
        """A key of the main test Redis under this test's prefix."""
        return self.prefix + name


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    """A client of the main test Redis; skips (fails under ``CI``) when it is down."""
    client = redis.Redis.from_url(main_url())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        _fail_or_skip(f"Redis at {REDIS_HOST} is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(store: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    value = f"rw{uuid.uuid4().hex[:10]}_"
    yield value
    keys = list(store.scan_iter(match=f"{value}*", count=1000))
    for start in range(0, len(keys), 500):
        store.delete(*keys[start : start + 500])


@pytest.fixture
def make_project(tmp_path: Path, prefix: str) -> Iterator[Callable[..., RedisProject]]:
    """``make_project(body, url=None, transport_options=…, **settings)``.

    The project is on the main test database unless ``url`` names another server;
    its workers are killed (whole process groups) when the test ends.
    """
    made: list[RedisProject] = []

    def make(
        body: str = "",
        *,
        url: str | None = None,
        transport_options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> RedisProject:
        root = tmp_path / f"project{len(made) + 1}"
        root.mkdir()
        project = RedisProject(
            root,
            url or main_url(),
            prefix=prefix,
            queue=f"q-{uuid.uuid4().hex[:8]}",
            transport_options=transport_options,
            settings=settings,
        )
        made.append(project)
        project.write_module(body)
        return project

    yield make
    for project in made:
        project.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private ``redis-server`` on a free port, AOF on with ``appendfsync always``."""
    if shutil.which("redis-server") is None:
        _fail_or_skip("redis-server is not installed")
    directory = tmp_path / "own-redis"
    directory.mkdir()
    server = OwnRedis(free_port(), directory)
    server.start()
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait(10)
        server.process = None
