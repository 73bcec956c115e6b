"""Find the app named by ``-A``: a module, ``module:attr`` or a package, as Celery does."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

from celeriac.app.base import Celery
from celeriac.utils.imports import ImportStringError, import_from_string

__all__ = ["ACCEPTED", "AppNotFound", "find_app"]

#: What ``-A`` takes, appended to the errors where the value itself is wrong.
ACCEPTED = "-A takes a module, module:attribute or package holding a Celery app"


class AppNotFound(Exception):
    """The ``-A`` value did not lead to a Celery app; the message says why, in one line."""


def _app_in(module: ModuleType) -> Celery | None:
    for name in ("app", "celery"):
        candidate = getattr(module, name, None)
        if isinstance(candidate, Celery):
            return candidate
    found = [value for value in vars(module).values() if isinstance(value, Celery)]
    return found[0] if len(found) == 1 else None


def _import(name: str) -> ModuleType:
    module = _import_if_present(name)
    if module is None:
        raise AppNotFound(
            f"Unable to load celeriac application: the module {name} was "
            f"not found (searched from {os.getcwd()}); {ACCEPTED}"
        )
    return module


def _import_if_present(name: str) -> ModuleType | None:
    """Import ``name``; None when it does not exist, AppNotFound when importing it fails."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or name.startswith(f"{exc.name}."):
            return None
        raise AppNotFound(
            f"Unable to load celeriac application: importing {name} failed: "
            f"No module named {exc.name!r}"
        ) from None
    except Exception as exc:
        raise AppNotFound(
            f"Unable to load celeriac application: importing {name} raised "
            f"{type(exc).__name__}: {exc}"
        ) from None


def find_app(spec: str) -> Celery:
    """Load the app for ``-A spec``.

    Raises:
        AppNotFound: with a one-line explanation (module missing, error on import, no app).
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if ":" in spec:
        try:
            value: Any = import_from_string(spec)
        except ImportStringError as exc:
            raise AppNotFound(f"Unable to load celeriac application: {exc}; {ACCEPTED}") from None
        if callable(value) and not isinstance(value, Celery):
            value = value()
        if not isinstance(value, Celery):
            raise AppNotFound(
                f"Unable to load celeriac application: {spec} is "
                f"{type(value).__name__}, not a Celery app"
            )
        return value
    module = _import(spec)
    app = _app_in(module)
    if app is None and hasattr(module, "__path__"):  # a package: look in <pkg>.celery
        submodule = _import_if_present(f"{spec}.celery")
        if submodule is not None:
            app = _app_in(submodule)
    if app is None:
        raise AppNotFound(
            f"Unable to load celeriac application: module {spec} has no "
            f"attribute 'app' or 'celery' holding a Celery app (name it: -A {spec}:attribute)"
        )
    return app
