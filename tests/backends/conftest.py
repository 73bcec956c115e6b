"""Fixtures for the result backend contract suite: one ``backend`` per store kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac.backends.base import Backend, BackendOptions
from celeriac.backends.registry import create_backend
from helpers.services import redis_keyspace

BackendFactory = Callable[..., Backend]

KINDS = ["memory", "sqlite", "redis"]


def backend_url(kind: str, tmp_path: Path) -> str:
    """A fresh result backend URL of ``kind`` (memory or SQLite) that no other test uses."""
    if kind == "memory":
        return f"cache+memory://test-{uuid.uuid4().hex}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    raise AssertionError(f"unknown backend kind {kind}")


@pytest.fixture(params=KINDS, ids=KINDS)
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Make backends on one fresh store; every call is a new client of it."""
    with ExitStack() as stack:
        if request.param == "redis":  # the prefix in the URL; its keys are deleted at the end
            url = stack.enter_context(redis_keyspace("r")).url_with_prefix
        else:
            url = backend_url(request.param, tmp_path)
        made: list[Backend] = []

        def make(**options: Any) -> Backend:
            backend = create_backend(url, BackendOptions(**options))
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()


@pytest.fixture
def backend(backend_factory: BackendFactory) -> Backend:
    """A backend with default options on a fresh store."""
    return backend_factory()


def meta(task_id: str, status: str = "SUCCESS", result: Any = 4) -> dict[str, Any]:
    """A result meta in Celery's shape."""
    return {
        "status": status,
        "result": result,
        "traceback": None,
        "children": [],
        "date_done": "2024-01-01T00:00:00+00:00" if status == "SUCCESS" else None,
        "task_id": task_id,
    }
