"""Apps for tests (``celery.contrib.testing.app``): ``TestApp``, the app trap, clean set-up.

``TestApp()`` is an app on ``memory://`` with logging left alone; ``setup_default_app``
makes it current for a block and closes it afterwards; with ``use_trap`` any code that
falls back on the current app instead of the one it was given fails at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, cast

from celeriac.app.base import Celery
from celeriac.app.log import Logging
from celeriac.execution import context

__all__ = ["DEFAULT_TEST_CONFIG", "TestApp", "Trap", "UnitLogging", "set_trap", "setup_default_app"]

#: The settings a test app starts with.
DEFAULT_TEST_CONFIG: dict[str, Any] = {
    "worker_hijack_root_logger": False,
    "worker_log_color": False,
    "accept_content": ["json"],
    "enable_utc": True,
    "timezone": "UTC",
    "broker_url": "memory://",
    "result_backend": "memory://",
    "broker_heartbeat": 0,
}


class Trap:
    """Stands in for the current app and fails on any use (finds code that ignores ``app=``)."""

    def __getattr__(self, name: str) -> Any:
        if name in ("_is_coroutine", "__func__"):
            return None
        raise RuntimeError("Test depends on current_app")


class UnitLogging(Logging):
    """Logging that is never set up: tests keep pytest's logging."""

    def __init__(self, app: Celery) -> None:
        super().__init__(app)
        self.already_setup = True


def TestApp(
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    enable_logging: bool = False,
    set_as_current: bool = False,
    log: type[Logging] | None = UnitLogging,
    backend: str | None = None,
    broker: str | None = None,
    **kwargs: Any,
) -> Celery:
    """An app for tests: ``DEFAULT_TEST_CONFIG`` updated with ``config``."""
    from celeriac.contrib.testing import tasks  # noqa: F401 - registers celery.ping

    settings = dict(deepcopy(DEFAULT_TEST_CONFIG), **dict(config or {}))
    broker = broker if broker is not None else settings.pop("broker_url", None)
    backend = backend if backend is not None else settings.pop("result_backend", None)
    settings.pop("broker_url", None)
    settings.pop("result_backend", None)
    app = Celery(
        name or "celery.tests",
        broker=broker,
        backend=backend,
        set_as_current=set_as_current,
        **kwargs,
    )
    app.conf.update(settings)
    if log is not None and not enable_logging:
        app.__dict__["_log"] = log(app)
    return app


@contextmanager
def set_trap(app: Celery) -> Iterator[None]:
    """Make the current and default app a :class:`Trap` for the block."""
    previous = context.get_current_app()
    trap = cast(Celery, Trap())
    context.set_current_app(trap)
    try:
        yield
    finally:
        context.set_current_app(previous)


@contextmanager
def setup_default_app(app: Celery, use_trap: bool = False) -> Iterator[None]:
    """Run the block with ``app`` set up; restore the current app and close ``app`` after."""
    previous = context.get_current_app()
    try:
        if use_trap:
            with set_trap(app):
                yield
        else:
            yield
    finally:
        context.set_current_app(previous)
        if app is not previous:
            app.close()
