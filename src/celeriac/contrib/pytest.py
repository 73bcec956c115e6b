"""pytest plugin with Celery's fixtures (``celery_app``, ``celery_worker``, the session ones).

Override ``celery_config``, ``celery_parameters``, ``celery_includes``,
``celery_worker_pool``, ``celery_worker_parameters``, ``celery_class_tasks``,
``celery_enable_logging`` or ``use_celery_app_trap`` in a conftest, as with Celery;
``@pytest.mark.celery(result_backend=...)`` overrides settings for one test.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from celeriac.app.base import Celery
from celeriac.contrib.testing.app import TestApp, setup_default_app
from celeriac.contrib.testing.worker import TestWorkController, start_worker

__all__ = [
    "celery_app",
    "celery_class_tasks",
    "celery_config",
    "celery_enable_logging",
    "celery_includes",
    "celery_parameters",
    "celery_session_app",
    "celery_session_worker",
    "celery_worker",
    "celery_worker_parameters",
    "celery_worker_pool",
    "depends_on_current_app",
    "pytest_configure",
    "use_celery_app_trap",
]

#: ``NO_WORKER=1`` in the environment: the worker fixtures start no worker.
NO_WORKER = os.environ.get("NO_WORKER")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``celery`` marker."""
    config.addinivalue_line(
        "markers", "celery(**overrides): override celery configuration for a test case"
    )


@contextmanager
def _create_app(
    enable_logging: bool = False,
    use_trap: bool = False,
    parameters: Mapping[str, Any] | None = None,
    **config: Any,
) -> Iterator[Celery]:
    app = TestApp(
        set_as_current=False, enable_logging=enable_logging, config=config,
        **dict(parameters or {}),
    )  # fmt: skip
    with setup_default_app(app, use_trap=use_trap):
        yield app


def _marked(request: pytest.FixtureRequest, config: Mapping[str, Any]) -> dict[str, Any]:
    mark = request.node.get_closest_marker("celery")
    return dict(config, **(mark.kwargs if mark else {}))


@pytest.fixture(scope="session")
def use_celery_app_trap() -> bool:
    """Override to make any use of the current (not the given) app fail."""
    return False


@pytest.fixture(scope="session")
def celery_config() -> Mapping[str, Any]:
    """Settings for the test app; override in your conftest (default: memory broker/backend)."""
    return {}


@pytest.fixture(scope="session")
def celery_parameters() -> Mapping[str, Any]:
    """Extra keyword arguments for the test app's ``Celery(...)``."""
    return {}


@pytest.fixture(scope="session")
def celery_includes() -> Sequence[str]:
    """Modules the test worker imports."""
    return ()


@pytest.fixture(scope="session")
def celery_worker_pool() -> str:
    """The test worker's pool: ``solo`` or ``threads``."""
    return "solo"


@pytest.fixture(scope="session")
def celery_worker_parameters() -> Mapping[str, Any]:
    """Extra keyword arguments for :func:`start_worker`."""
    return {}


@pytest.fixture(scope="session")
def celery_enable_logging() -> bool:
    """Whether the test app sets logging up."""
    return False


@pytest.fixture(scope="session")
def celery_class_tasks() -> Sequence[Any]:
    """Task classes to register with the session app."""
    return []


@pytest.fixture(scope="session")
def celery_session_app(
    request: pytest.FixtureRequest,
    celery_config: Mapping[str, Any],
    celery_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
    use_celery_app_trap: bool,
) -> Iterator[Celery]:
    """One app for the whole session."""
    config = _marked(request, celery_config)
    with _create_app(
        enable_logging=celery_enable_logging, use_trap=use_celery_app_trap,
        parameters=celery_parameters, **config,
    ) as app:  # fmt: skip
        if not use_celery_app_trap:
            app.set_default()
            app.set_current()
        yield app


@pytest.fixture(scope="session")
def celery_session_worker(
    request: pytest.FixtureRequest,
    celery_session_app: Celery,
    celery_includes: Sequence[str],
    celery_class_tasks: Sequence[Any],
    celery_worker_pool: str,
    celery_worker_parameters: Mapping[str, Any],
) -> Iterator[TestWorkController | None]:
    """One worker for the whole session, on ``celery_session_app``."""
    if NO_WORKER:
        yield None
        return
    for module in celery_includes:
        importlib.import_module(module)
    for class_task in celery_class_tasks:
        celery_session_app.register_task(class_task)
    with start_worker(
        celery_session_app, pool=celery_worker_pool, **dict(celery_worker_parameters)
    ) as worker:
        yield worker


@pytest.fixture
def celery_app(
    request: pytest.FixtureRequest,
    celery_config: Mapping[str, Any],
    celery_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
    use_celery_app_trap: bool,
) -> Iterator[Celery]:
    """A fresh app for the test, configured from ``celery_config`` and the ``celery`` mark."""
    config = _marked(request, celery_config)
    with _create_app(
        enable_logging=celery_enable_logging, use_trap=use_celery_app_trap,
        parameters=celery_parameters, **config,
    ) as app:  # fmt: skip
        yield app


@pytest.fixture
def celery_worker(
    request: pytest.FixtureRequest,
    celery_app: Celery,
    celery_includes: Sequence[str],
    celery_worker_pool: str,
    celery_worker_parameters: Mapping[str, Any],
) -> Iterator[TestWorkController | None]:
    """A worker on a thread for the test, consuming ``celery_app``'s queues."""
    if NO_WORKER:
        yield None
        return
    for module in celery_includes:
        importlib.import_module(module)
    with start_worker(
        celery_app, pool=celery_worker_pool, **dict(celery_worker_parameters)
    ) as worker:
        yield worker


@pytest.fixture
def depends_on_current_app(celery_app: Celery) -> None:
    """Make ``celery_app`` the current app."""
    celery_app.set_current()
