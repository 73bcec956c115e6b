"""Celery's ``celery.loaders.base``: :class:`BaseLoader`, what ``app.loader`` is.

The loader imports the modules a worker needs (``imports``/``include``, the modules of
the registered tasks, a configuration module) and reads configuration. celeriac's
worker and beat call :meth:`import_default_modules` through ``app.finalize()``; the
worker lifecycle hooks of Celery's loaders are signals in celeriac (``worker_init``,
``worker_process_init``, ``task_prerun`` …).
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.signals import import_modules
from celeriac.utils.imports import find_module, import_from_cwd

__all__ = ["BaseLoader"]


class BaseLoader:
    """Imports and configuration for one app (``app.loader``)."""

    #: modules every worker imports (Celery's loaders list none by default)
    builtin_modules: frozenset[str] = frozenset()
    #: whether configuration was read (:meth:`config_from_object`, :meth:`read_configuration`)
    configured = False

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        self.task_modules: set[str] = set()

    @property
    def conf(self) -> Any:
        """The app's settings."""
        return self.app.conf

    def now(self, utc: bool = True) -> datetime:
        """The current time (UTC, or local when ``utc`` is false)."""
        return datetime.now(UTC) if utc else datetime.now()

    def import_module(self, module: str, package: str | None = None) -> ModuleType:
        """``importlib.import_module``."""
        return importlib.import_module(module, package=package)

    def import_task_module(self, module: str) -> ModuleType:
        """Import a module that defines tasks (remembered in :attr:`task_modules`)."""
        self.task_modules.add(module)
        return self.import_from_cwd(module)

    def import_from_cwd(
        self, module: str, imp: Any = None, package: str | None = None
    ) -> ModuleType:
        """Import ``module`` with the current directory first on ``sys.path``."""
        return import_from_cwd(module, imp=imp or self.import_module, package=package)

    def find_module(self, module: str) -> ModuleType:
        """Import ``module`` (raising ``NotAPackage`` for a dotted path through a module)."""
        return find_module(module)

    @property
    def default_modules(self) -> list[str]:
        """The modules a worker imports: :attr:`builtin_modules`, ``imports``, ``include``."""
        conf = self.conf
        names = [*self.builtin_modules, *(conf.imports or ()), *(conf.include or ())]
        return list(dict.fromkeys(names))

    def import_default_modules(self) -> list[ModuleType]:
        """Import :attr:`default_modules` (``import_modules`` is sent first)."""
        import_modules.send(sender=self.app)
        return [self.import_task_module(module) for module in self.default_modules]

    def init_worker(self) -> None:
        """Import the default modules (Celery's worker calls this at start-up)."""
        self.import_default_modules()

    def config_from_object(self, obj: Any, silent: bool = False) -> bool:
        """``app.config_from_object(obj)``; with ``silent`` an import error returns False."""
        try:
            self.app.config_from_object(obj)
        except (ImportError, ImproperlyConfigured):
            if silent:
                return False
            raise
        self.configured = True
        return True

    def read_configuration(self, env: str = "CELERY_CONFIG_MODULE") -> dict[str, Any]:
        """The upper-case settings of the module the environment variable ``env`` names
        (``{}`` when unset)."""
        name = os.environ.get(env)
        if not name:
            return {}
        module = self.import_from_cwd(name)
        self.configured = True
        return {key: value for key, value in vars(module).items() if key.isupper()}

    def autodiscover_tasks(self, packages: Any, related_name: str = "tasks") -> Any:
        """``app.autodiscover_tasks(packages, related_name)``."""
        return self.app.autodiscover_tasks(packages, related_name)

    def cmdline_config_parser(
        self, args: list[str], namespace: str = "celery", **_: Any
    ) -> dict[str, Any]:
        """``["key=value", …]`` as settings (values read as Python literals when they parse,
        ``namespace.key`` prefixed with the namespace)."""
        import ast

        parsed: dict[str, Any] = {}
        for arg in args:
            key, sep, value = arg.partition("=")
            if not sep:
                raise ValueError(f"expected key=value, got {arg!r}")
            key = key.strip().lower().replace(".", "_")
            if namespace and namespace != "celery" and not key.startswith(f"{namespace}_"):
                key = f"{namespace}_{key}"
            try:
                parsed[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                parsed[key] = value
        return parsed
