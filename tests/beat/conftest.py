"""Fixtures for beat's end-to-end tests: projects on SQLite and on Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.processes import Project

BeatProject = Callable[..., Project]


@pytest.fixture(params=["sqlite", "redis"])
def beat_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BeatProject]:
    """``beat_project(body, **settings)``: a project on SQLite or on Redis (its own prefix)."""
    made: list[Project] = []
    cleanup: list[Callable[[], None]] = []

    def make(body: str = "", **settings: Any) -> Project:
        root = tmp_path / f"p{len(made)}"
        root.mkdir()
        if request.param == "sqlite":
            project = Project(root, body, settings=settings)
        else:
            redis = pytest.importorskip("redis")
            from redis_worker.conftest import RedisProject, main_url

            client = redis.Redis.from_url(main_url())
            try:
                client.ping()
            except redis.exceptions.ConnectionError:
                if os.environ.get("CI"):
                    raise
                pytest.skip("Redis is not reachable")
            prefix = f"bt{uuid.uuid4().hex[:10]}_"

            def drop(client: Any = client, prefix: str = prefix) -> None:
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
                client.close()

            cleanup.append(drop)
            project = RedisProject(
                root, main_url(), prefix=prefix, queue="celery", settings=settings
            )
            project.write_module(body)
        made.append(project)
        return project

    yield make
    for project in made:
        project.close()
    for drop in cleanup:
        drop()
