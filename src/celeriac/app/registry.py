"""The task registry (name to Task) and autodiscovery of ``tasks`` modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import NoReturn

from celeriac.app.task import Task
from celeriac.exceptions import NotRegistered
from celeriac.utils.log import own_logger

__all__ = ["TaskRegistry", "find_related_modules"]

logger = own_logger(__name__)


class TaskRegistry(dict[str, Task[..., object]]):
    """Registered tasks by name; a missing name raises :class:`NotRegistered`."""

    def __missing__(self, key: str) -> NoReturn:
        raise NotRegistered(key)

    def register(self, task: Task[..., object]) -> None:
        """Add a task under its name."""
        self[task.name] = task

    def unregister(self, name: str | Task[..., object]) -> None:
        """Remove a task by name (or task object)."""
        self.pop(name.name if isinstance(name, Task) else name, None)

    def regular(self) -> dict[str, Task[..., object]]:
        """Tasks that are not celeriac's built-ins."""
        return {name: task for name, task in self.items() if not name.startswith("celery.")}


def find_related_modules(
    packages: Iterable[str] | Callable[[], Iterable[str]] | None, related_name: str
) -> list[str]:
    """Import ``<package>.<related_name>`` for each package; return the modules imported.

    As Celery's: a name that is not a module (a Django ``app.apps.AppConfig`` path) is
    walked up one level; a package without such a module is skipped; a package that
    does not exist, or an error raised while importing an existing module, propagates
    (a broken ``tasks.py`` must not be silent).

    Raises:
        ModuleNotFoundError: the package is not there.
    """
    names = packages() if callable(packages) else (packages or ())
    imported: list[str] = []
    for package in names:
        module_name = _related_module(str(package), related_name)
        if module_name is None:
            logger.debug("autodiscover: no module %s in %s", related_name, package)
            continue
        imported.append(module_name)
    return imported


def _related_module(package: str, related_name: str) -> str | None:
    """Import ``package``'s ``related_name`` module; its name, or None when it has none."""
    try:
        importlib.import_module(package)
    except ModuleNotFoundError:
        package = package.rpartition(".")[0]  # a class path: try the module holding it
        if not package:
            raise
    if not related_name:
        return package
    module_name = f"{package}.{related_name}"
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return module_name
