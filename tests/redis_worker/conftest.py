"""Real ``celeriac -A tasks worker`` subprocesses on ``redis://`` (broker and results).

Every test gets its own ``global_keyprefix`` and queue name on the Redis test database
(``1 + xdist worker index``), so tests running side by side never see each other's
messages; the keys under the prefix are deleted afterwards.
:class:`helpers.processes.RedisProject` is :class:`helpers.processes.Project` with a
Redis URL instead of a SQLite file: the
tasks module's app gets the prefix, the queue and the test's transport options, and a
``store()`` client of the *main* test Redis (which outlives a private server's restart)
for tasks to record what they did. ``own_redis`` starts a private ``redis-server`` (AOF
on, fsync always) that a test may kill and start again on the same port and directory.

Redis down (or ``redis-server`` missing, for ``own_redis``): the tests skip, or fail
when ``CI`` is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from helpers.processes import RedisProject
from helpers.services import (
    RedisKeyspace,
    free_port,
    redis_keyspace,
    redis_url,
    require_executable,
)
from redis_tests.redis_support import OwnRedis


@pytest.fixture
def keyspace() -> Iterator[RedisKeyspace]:
    """The test's part of the main test Redis; skips (fails under ``CI``) when it is down."""
    with redis_keyspace("rw") as space:
        yield space


@pytest.fixture
def store(keyspace: RedisKeyspace) -> redis.Redis:
    """A client of the main test Redis."""
    return keyspace.client


@pytest.fixture
def prefix(keyspace: RedisKeyspace) -> str:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    return keyspace.prefix


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
            url or redis_url(),
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
    require_executable("redis-server")
    directory = tmp_path / "own-redis"
    directory.mkdir()
    server = OwnRedis(free_port(), directory)
    server.start()
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait(10)
        server.process = None
