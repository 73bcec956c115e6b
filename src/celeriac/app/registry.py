"""The task registry (name to Task) and autodiscovery of ``tasks`` modules."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import NoReturn

from celeriac.app.task import Task
from celeriac.exceptions import NotRegistered

__all__ = ["TaskRegistry", "find_related_modules"]

logger = logging.getLogger(__name__)


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

    A package without such a module is skipped; an error raised while importing an
    existing module propagates (a broken ``tasks.py`` must not be silent).
    """
    names = packages() if callable(packages) else (packages or ())
    imported: list[str] = []
    for package in names:
        module_name = f"{package}.{related_name}" if related_name else package
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, package) and not module_name.startswith(
                f"{exc.name}."
            ):
                raise
            logger.debug("autodiscover: no module %s", module_name)
            continue
        imported.append(module_name)
    return imported
