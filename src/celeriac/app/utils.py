"""Celery's ``celery.app.utils``: the settings class and helpers around an app.

:class:`Settings` is ``app.conf``'s class; :func:`find_app` resolves what ``-A`` names
(``proj``, ``proj.celery``, ``proj.celery:app``); :func:`filter_hidden_settings` and
:func:`sanitize_url` mask secrets as ``celeriac report`` shows them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from celeriac.app.base import Celery
from celeriac.config.settings import Settings, mask_secrets, mask_url_passwords
from celeriac.utils.imports import symbol_by_name as _symbol_by_name

__all__ = [
    "Settings",
    "appstr",
    "bugreport",
    "filter_hidden_settings",
    "find_app",
    "sanitize_url",
]


def appstr(app: Any) -> str:
    """``"<main> at 0x…"`` (how Celery names an app in banners)."""
    return f"{app.main or '__main__'} at {id(app):#x}"


def bugreport(app: Any) -> str:
    """The app's bug-report text (``app.bugreport()``)."""
    return str(app.bugreport())


def sanitize_url(url: str, mask: str = "**") -> str:
    """``url`` with its password replaced by ``mask``."""
    return mask_url_passwords(url, mask)


def filter_hidden_settings(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with secret values masked (``********``), URLs without passwords."""
    return {key: mask_secrets(str(key), value) for key, value in conf.items()}


def _app_in(module: ModuleType) -> Any:
    for name in ("app", "celery"):
        found = getattr(module, name, None)
        if isinstance(found, Celery):
            return found
        if isinstance(found, ModuleType):
            inner = _app_in(found) if found is not module else None
            if inner is not None:
                return inner
    for value in vars(module).values():
        if isinstance(value, Celery):
            return value
    raise AttributeError(f"no Celery app found in module {module.__name__!r}")


def find_app(
    app: str,
    symbol_by_name: Callable[..., Any] = _symbol_by_name,
    imp: Callable[[str], ModuleType] = importlib.import_module,
) -> Any:
    """The app ``-A app`` names: ``pkg.mod:attr``, ``pkg.mod.attr``, or a module (its
    ``app``/``celery`` attribute, its ``celery`` submodule's, or any app in it).

    Raises:
        ImportError, AttributeError: nothing importable names an app.
    """
    if ":" in app:
        return symbol_by_name(app)
    try:
        module = imp(app)
    except ImportError:
        found = symbol_by_name(app)
    else:
        try:
            return _app_in(module)
        except AttributeError:
            if getattr(module, "__path__", None) is None:
                raise
            return _app_in(imp(f"{app}.celery"))
    if isinstance(found, ModuleType):
        return _app_in(found)
    return found
