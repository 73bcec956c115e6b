"""The Django fixup: ``celeriac -A proj worker`` sets Django up by itself.

Registered under the entry-point group ``celeriac.fixups``; every new app asks
:func:`fixup`, which answers only when ``DJANGO_SETTINGS_MODULE`` is set (importing
nothing from Django otherwise). For such an app:

- ``app.finalize()`` (worker and beat start) runs ``django.setup()`` and Django's system
  checks (skipped with ``CELERIAC_SKIP_CHECKS`` or ``CELERY_SKIP_CHECKS``), then imports
  the tasks of the installed apps that ``autodiscover_tasks()`` asked for;
- database connections are handled around each task as Django handles them around a
  request, and never cross a fork (:mod:`celeriac.contrib.django.connections`);
- ``Task.delay_on_commit`` / ``apply_async_on_commit`` use ``transaction.on_commit``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.app.fixups import Fixup
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["DjangoFixup", "fixup"]

logger = own_logger(__name__)


def fixup(app: Celery, env: str = "DJANGO_SETTINGS_MODULE") -> DjangoFixup | None:
    """The Django fixup for ``app`` when ``DJANGO_SETTINGS_MODULE`` is set, else None."""
    if not os.environ.get(env):
        return None
    if find_spec("django") is None:
        logger.warning("%s is set but Django is not installed: no Django set-up", env)
        return None
    return DjangoFixup(app).install()


class DjangoFixup(Fixup):
    """Sets Django up in worker and beat processes and handles its connections."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._set_up = False

    def install(self) -> DjangoFixup:
        """Add the connection middleware and connect the worker's start signal."""
        from celeriac.contrib.django.connections import DjangoConnections

        # The project directory first, as ``manage.py`` runs it.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        self.app.middleware.add(DjangoConnections())
        self._use_django_task()
        signals.worker_init.connect(self._on_worker_init, weak=True)
        signals.beat_embedded_init.connect(self._on_before_fork, weak=True)
        signals.worker_shutdown.connect(self._on_worker_shutdown, weak=True)
        return self

    def _use_django_task(self) -> None:
        """An app left with the default task class gets :class:`DjangoTask` (Celery's
        rule, a ``Celery`` subclass included); a class the project chose is kept."""
        from celeriac.app.task import Task
        from celeriac.contrib.django.task import DjangoTask

        if self.app.Task is Task:
            self.app.task_cls = "celeriac.contrib.django.task:DjangoTask"
            self.app.Task = DjangoTask

    # -- Fixup hooks ----------------------------------------------------------------
    def discovery_ready(self) -> bool:
        """True once Django's app registry is loaded."""
        if "django.apps" not in sys.modules:
            return False
        from django.apps import apps

        return bool(apps.ready)

    def on_import_modules(self) -> None:
        """``django.setup()`` and the system checks, once, before task modules load."""
        if self._set_up:
            return
        self._set_up = True
        if self.discovery_ready():  # a Django process (manage.py, the web server)
            self.on_after_setup()
            return
        import django

        django.setup()
        if not (os.environ.get("CELERIAC_SKIP_CHECKS") or os.environ.get("CELERY_SKIP_CHECKS")):
            from django.core.checks import run_checks

            for message in run_checks():
                if message.is_serious():
                    logger.error("Django check: %s", message)
                else:
                    logger.warning("Django check: %s", message)
        self.on_after_setup()

    def on_after_setup(self) -> None:
        """Register the tasks framework's runner when ``TASKS`` uses celeriac."""
        from django.conf import settings

        backends = getattr(settings, "TASKS", None) or {}
        if any(
            str(conf.get("BACKEND", "")).startswith("celeriac.contrib.django.tasks")
            for conf in backends.values()
        ):
            from celeriac.contrib.django.tasks.runner import register

            register(self.app)

    def autodiscover_packages(self) -> list[str] | None:
        """The installed Django apps."""
        from django.apps import apps

        return [config.name for config in apps.get_app_configs()]

    def on_commit(self, callback: Callable[[], object]) -> bool:
        """``transaction.on_commit(callback)`` on the default database."""
        from django.db import transaction

        transaction.on_commit(callback)
        return True

    # -- signals --------------------------------------------------------------------
    def _on_worker_init(self, sender: Any = None, **_: object) -> None:
        """In the worker's main process, before the pool forks: no open connection."""
        if getattr(sender, "app", self.app) is not self.app:
            return
        self.on_import_modules()
        self._on_before_fork()

    def _on_worker_shutdown(self, sender: Any = None, **_: object) -> None:
        """The worker's main process closes its connections as it exits."""
        if getattr(sender, "app", self.app) is self.app:
            self._on_before_fork()

    def _on_before_fork(self, **_: object) -> None:
        from celeriac.contrib.django.connections import close_all

        close_all()
