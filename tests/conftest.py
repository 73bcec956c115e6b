"""Shared fixtures: an ``app`` on every transport and an in-process ``worker`` for it.

The transports are :data:`helpers.services.TRANSPORTS` (memory, SQLite, Redis); every test
gets a fresh broker and result store of its kind (:func:`helpers.services.fresh_store`:
on Redis a key prefix of its own, deleted afterwards). Redis down: the Redis tests skip,
or fail when ``CI`` is set.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import pkgutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.contrib.testing import TestWorkController, start_worker
from helpers.services import TRANSPORTS, AppFactory, Store, WorkerFactory, fresh_store

#: The packages whose modules a worker thread imports lazily (a backend, a transport, a
#: pool). They are imported here, in the main thread, before any test starts a worker:
#: pytest rewrites the asserts of celeriac's modules (celeriac ships a pytest plugin) and
#: CPython 3.11's compiler is not thread-safe while it does (``SystemError: AST
#: constructor recursion depth mismatch`` when two threads import at once).
_PRELOADED = ("backends", "transports", "pools", "worker", "execution", "events", "canvas")


def _preload() -> None:
    for package in _PRELOADED:
        module = importlib.import_module(f"celeriac.{package}")
        for found in pkgutil.walk_packages(module.__path__, f"{module.__name__}."):
            try:
                importlib.import_module(found.name)
            except ImportError:  # an optional extra that is not installed
                pass


_preload()


@pytest.fixture(autouse=True)
def _root_logger_level_restored() -> Iterator[None]:
    """Each test finds the root logger's level as the session left it: a worker started in
    a test sets it (``app.log.setup``, ERROR for test workers), which would silence the
    log records later tests capture."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _url_environment_restored() -> Iterator[None]:
    """``celeriac -b URL`` run in-process sets ``CELERY_BROKER_URL`` (and
    ``--result-backend`` ``CELERY_RESULT_BACKEND``), as Celery's CLI does: each test finds
    them as the session left them."""
    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    saved = {name: os.environ.get(name) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(params=TRANSPORTS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """The transport the test's apps use."""
    return str(request.param)


@pytest.fixture
def app_store(
    transport_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """The test's own broker and result store (tagged with the test's directory name)."""
    with fresh_store(transport_kind, tmp_path, tag=request.path.parent.name) as fresh:
        yield fresh


@pytest.fixture
def make_app(app_store: Store) -> Iterator[AppFactory]:
    """Make apps on the test's broker: ``make_app(task_track_started=True)``.

    Every app made by one test shares its broker and result store, so one can send
    what another one runs.
    """
    made: list[Celery] = []

    def make(main: str = "tests", **settings: Any) -> Celery:
        app = Celery(
            main,
            broker=app_store.url,
            backend=app_store.backend_url,
            **app_store.app_settings(**settings),
        )
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
        started = itertools.count(1)

        def start(
            app: Celery, pool: str = "threads", concurrency: int = 2, **options: Any
        ) -> TestWorkController:
            # a node name per worker: several of them answer remote control in one test
            options.setdefault("hostname", f"celeriac-test{next(started)}@%h")
            return stack.enter_context(
                start_worker(
                    app, pool=pool, concurrency=concurrency, perform_ping_check=False, **options
                )
            )

        yield start


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the long tests first (the README's commands in a fresh clone, then every test
    marked ``slow``), so that under ``-n 2`` both workers finish together instead of one
    of them starting a minutes-long test at the end of the run. The sort is stable and
    the same in every xdist worker."""

    def weight(item: pytest.Item) -> int:
        if "test_readme_commands" in item.nodeid:
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=weight)
