"""Fixtures for beat's end-to-end tests: projects on SQLite and on Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from helpers.processes import Project, RedisProject
from helpers.services import redis_keyspace

BeatProject = Callable[..., Project]


@pytest.fixture(params=["sqlite", "redis"])
def beat_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BeatProject]:
    """``beat_project(body, **settings)``: a project on SQLite or on Redis (its own prefix)."""
    made: list[Project] = []
    with ExitStack() as keyspaces:  # Redis keys are deleted after the projects close

        def make(body: str = "", **settings: Any) -> Project:
            root = tmp_path / f"p{len(made)}"
            root.mkdir()
            if request.param == "sqlite":
                project = Project(root, body, settings=settings)
            else:
                space = keyspaces.enter_context(redis_keyspace("bt"))
                project = RedisProject(
                    root, space.url, prefix=space.prefix, queue="celery", settings=settings
                )
                project.write_module(body)
            made.append(project)
            return project

        yield make
        for project in made:
            project.close()
