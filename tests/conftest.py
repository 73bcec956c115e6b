"""Shared fixtures: an ``app`` on every transport and an in-process ``worker`` for it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.contrib.testing import TestWorkController, start_worker

#: Transports the app/worker suite runs on; Redis and AMQP join this list later.
TRANSPORTS = ["memory", "sqlite"]

AppFactory = Callable[..., Celery]
WorkerFactory = Callable[..., TestWorkController]


def transport_urls(kind: str, tmp_path: Path) -> tuple[str, str]:
    """``(broker_url, result_backend)`` of a fresh broker of ``kind`` for one test."""
    if kind == "memory":  # a named memory broker: tests in one process never share queues
        url = f"memory://test-{uuid.uuid4().hex}"
        return url, url
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'broker.db'}"
        return url, url
    raise AssertionError(f"unknown transport {kind}")


@pytest.fixture(params=TRANSPORTS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """The transport the test's apps use."""
    return str(request.param)


@pytest.fixture
def make_app(transport_kind: str, tmp_path: Path) -> Iterator[AppFactory]:
    """Make apps on the test's broker: ``make_app(task_track_started=True)``.

    Every app made by one test shares its broker and result store, so one can send
    what another one runs.
    """
    broker, backend = transport_urls(transport_kind, tmp_path)
    made: list[Celery] = []

    def make(main: str = "tests", **settings: Any) -> Celery:
        app = Celery(main, broker=broker, backend=backend, **settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def app(make_app: AppFactory) -> Celery:
    """A fresh app with default settings on the test's broker."""
    return make_app()


@pytest.fixture
def worker(make_app: AppFactory) -> Iterator[WorkerFactory]:
    """Start in-process workers that stop when the test ends: ``worker(app, pool='solo')``.

    Workers stop before the test's apps close (this fixture depends on ``make_app``).
    """
    with ExitStack() as stack:

        def start(
            app: Celery, pool: str = "threads", concurrency: int = 2, **options: Any
        ) -> TestWorkController:
            return stack.enter_context(
                start_worker(app, pool=pool, concurrency=concurrency, **options)
            )

        yield start
