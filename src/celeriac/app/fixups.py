"""Fixups: framework integrations an app picks up by itself, found by entry point.

A package registers a factory under the entry-point group :data:`FIXUPS_GROUP`
(celeriac's own Django fixup is ``celeriac.contrib.django.fixup:fixup``). Every new app
calls each factory with itself; a factory returns ``None`` when its framework is not in
use (for Django: ``DJANGO_SETTINGS_MODULE`` is not set), else a :class:`Fixup`. The core
never imports a framework: it only calls these hooks.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "FIXUPS_GROUP",
    "Discovery",
    "Fixup",
    "FixupFactory",
    "discovery_packages",
    "load_fixups",
    "on_commit",
]

logger = own_logger(__name__)

#: The entry-point group of fixup factories.
FIXUPS_GROUP = "celeriac.fixups"


class Fixup:
    """What a fixup may do for an app; every hook is a no-op until overridden."""

    def discovery_ready(self) -> bool:
        """False while ``autodiscover_tasks()`` must wait for :meth:`on_import_modules`
        (Django: its app registry is not loaded yet)."""
        return True

    def on_import_modules(self) -> None:
        """Called by ``app.finalize()`` (worker, beat) before the task modules are imported."""

    def on_commit(self, callback: Callable[[], object]) -> bool:
        """Run ``callback`` once the current database transaction commits (at once when
        none is open); False when this fixup has no transactions."""
        return False

    def autodiscover_packages(self) -> list[str] | None:
        """The packages ``autodiscover_tasks()`` searches when given none (None: no opinion)."""
        return None


#: A fixup factory: called with each new app; returns its fixup or None.
FixupFactory = Callable[["Celery"], Fixup | None]


@functools.cache
def _factories() -> tuple[FixupFactory, ...]:
    """The installed factories, loaded once per process (an entry-point scan costs ms)."""
    found: list[FixupFactory] = []
    for entry in sorted(entry_points(group=FIXUPS_GROUP), key=lambda e: e.name):
        try:
            found.append(entry.load())
        except Exception as exc:
            logger.warning("Cannot load the fixup %s: %r", entry.value, exc)
    return tuple(found)


def load_fixups(app: Celery) -> list[Fixup]:
    """The fixups that apply to ``app`` (each installed factory asked once)."""
    fixups: list[Fixup] = []
    for factory in _factories():
        try:
            fixup = factory(app)
        except Exception as exc:
            logger.warning("The fixup %r failed for %r: %r", factory, app, exc)
            continue
        if fixup is not None:
            fixups.append(fixup)
    return fixups


def on_commit(fixups: list[Fixup], callback: Callable[[], object]) -> None:
    """Hand ``callback`` to the first fixup with transactions (``delay_on_commit``).

    Raises:
        ImproperlyConfigured: no fixup has transactions (Django is not set up for this app).
    """
    for fixup in fixups:
        if fixup.on_commit(callback):
            return
    raise ImproperlyConfigured(
        "delay_on_commit/apply_async_on_commit need Django's transactions: set "
        "DJANGO_SETTINGS_MODULE before the app is created (proj/celery.py does)"
    )


def discovery_packages(
    fixups: list[Fixup], packages: Iterable[str] | Callable[[], Iterable[str]] | None
) -> Iterable[str] | Callable[[], Iterable[str]]:
    """What ``autodiscover_tasks(packages)`` searches: the given packages, else the first
    fixup's answer, else the installed Django apps when Django is loaded (none if not)."""
    if packages is not None:
        return packages
    for fixup in fixups:
        found = fixup.autodiscover_packages()
        if found is not None:
            return found
    return _django_apps


def _django_apps() -> list[str]:
    try:
        apps = importlib.import_module("django.apps").apps
        return [config.name for config in apps.get_app_configs()]
    except Exception:
        return []


#: What ``autodiscover_tasks`` searches: package names, a callable giving them, or None.
Packages = Iterable[str] | Callable[[], Iterable[str]] | None


class Discovery:
    """``autodiscover_tasks()`` for one app: at once, or at ``finalize()`` while a fixup
    is not ready for it (Django's apps are not loaded yet)."""

    def __init__(self, fixups: list[Fixup]) -> None:
        self.fixups = fixups
        self.pending: list[tuple[Packages, str]] = []

    def request(self, packages: Packages, related_name: str) -> list[str]:
        """Import ``<package>.<related_name>`` now (the modules imported), or note it for
        :meth:`run_pending` and return []."""
        from celeriac.app.registry import find_related_modules  # registry imports task

        if not all(fixup.discovery_ready() for fixup in self.fixups):
            self.pending.append((packages, related_name))
            return []
        return find_related_modules(discovery_packages(self.fixups, packages), related_name)

    def run_pending(self) -> None:
        """Let the fixups set their framework up, then run the searches that waited."""
        from celeriac.app.registry import find_related_modules

        for fixup in self.fixups:
            fixup.on_import_modules()
        pending, self.pending = self.pending, []
        for packages, related_name in pending:
            find_related_modules(discovery_packages(self.fixups, packages), related_name)
