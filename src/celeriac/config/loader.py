"""Read settings from a module, an object or a ``"module:attr"`` path, as Celery's loader does."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from types import ModuleType

from celeriac.config.settings_table import OLD_NAMES, SETTINGS
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.imports import ImportStringError, import_from_string

__all__ = ["settings_from_envvar", "settings_from_object"]

#: Uppercase prefixes of Celery's old setting names. Without a namespace, uppercase
#: attributes with these prefixes that are not known old names are still read, so that
#: ``Settings`` warns about the likely typo instead of the value vanishing silently.
_OLD_PREFIXES = ("CELERY_", "CELERYD_", "CELERYBEAT_", "BROKER_")


def settings_from_object(obj: object | str, *, namespace: str | None = None) -> dict[str, object]:
    """Collect the settings an object, module or import path defines.

    ``obj`` may be a module, any object with attributes (a class, an instance, Django's
    ``django.conf.settings``), a mapping, a dotted module path (``"proj.celeryconfig"``)
    or a ``"module:attr"`` path (``"django.conf:settings"``).

    Without ``namespace``, public attributes named like a setting (``broker_url``) or a
    known old uppercase name (``BROKER_URL``) are read and returned under the new name.
    Other lowercase attributes are returned as they are so that ``Settings`` warns about
    them; modules, functions and classes among those are skipped, as are private names.
    Uppercase attributes that start like an old name (``CELERY_``, ``CELERYD_``,
    ``CELERYBEAT_``, ``BROKER_``) are also returned as they are, for the same warning;
    other uppercase names (Django's ``DEBUG``) are ignored.

    With ``namespace="CELERY"``, only attributes starting with ``CELERY_`` are read. The
    rest of the name, lowercased, is the setting (``CELERY_TASK_ALWAYS_EAGER`` becomes
    ``task_always_eager``). When that is not a setting, the rest is tried as an old name
    (``CELERY_CELERYD_CONCURRENCY`` becomes ``worker_concurrency``), then the whole name
    (``CELERY_ALWAYS_EAGER`` becomes ``task_always_eager``); failing both, the lowercased
    rest is returned as it is so that ``Settings`` warns. Everything else is ignored.

    Args:
        obj: The configuration source.
        namespace: Prefix of the attributes to read, without the trailing underscore.

    Returns:
        Settings by new name (unknown names as described above), ready for
        ``Settings.update``.

    Raises:
        ImproperlyConfigured: the module or attribute cannot be imported, reading an
            attribute fails, or one setting is given twice with different values.
    """
    source = _describe(obj)
    if isinstance(obj, str):
        try:
            obj = import_from_string(obj)
        except ImportStringError as exc:
            raise ImproperlyConfigured(
                f"cannot load configuration from {source}: {exc.reason}"
            ) from exc.__cause__
    prefix = None if namespace is None else namespace.rstrip("_") + "_"
    found: dict[str, tuple[str, object]] = {}
    for attr in _names(obj, source):
        if attr.startswith("_"):
            continue
        key = _key_for(attr) if prefix is None else _namespaced_key(attr, prefix)
        if key is None:
            continue
        value = _read(obj, attr, source)
        if key not in SETTINGS and _is_code(value):
            continue
        previous = found.get(key)
        if previous is not None and not _same(previous[1], value):
            raise ImproperlyConfigured(
                f"{source} sets {key!r} twice with different values, as {previous[0]!r} "
                f"and {attr!r}; keep only one"
            )
        found[key] = (attr, value)
    return {key: value for key, (_, value) in found.items()}


def settings_from_envvar(variable: str, *, namespace: str | None = None) -> dict[str, object]:
    """Collect settings from the module (or ``"module:attr"``) an environment variable names.

    Args:
        variable: Name of the environment variable, e.g. ``"CELERY_CONFIG_MODULE"``.
        namespace: As for ``settings_from_object``.

    Returns:
        As for ``settings_from_object``.

    Raises:
        ImproperlyConfigured: the variable is unset or empty, or the module cannot be loaded.
    """
    path = os.environ.get(variable, "").strip()
    if not path:
        raise ImproperlyConfigured(
            f"environment variable {variable} is not set; set it to the import path of "
            f"your configuration module (e.g. {variable}=proj.celeryconfig)"
        )
    try:
        return settings_from_object(path, namespace=namespace)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{exc} (from environment variable {variable})") from (
            exc.__cause__
        )


def _describe(obj: object) -> str:
    if isinstance(obj, str):
        return repr(obj)
    if isinstance(obj, ModuleType):
        return f"module {obj.__name__!r}"
    if isinstance(obj, Mapping):
        return "the configuration mapping"
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"object {name!r}"


def _names(obj: object, source: str) -> Iterable[str]:
    try:
        if isinstance(obj, Mapping):
            return [key for key in obj if isinstance(key, str)]
        return dir(obj)
    except Exception as exc:
        raise ImproperlyConfigured(f"cannot list the settings of {source}: {_error(exc)}") from exc


def _read(obj: object, attr: str, source: str) -> object:
    try:
        return obj[attr] if isinstance(obj, Mapping) else getattr(obj, attr)
    except Exception as exc:
        raise ImproperlyConfigured(f"cannot read {attr!r} from {source}: {_error(exc)}") from exc


def _key_for(attr: str) -> str | None:
    """The key an attribute is returned under without a namespace, or None to skip it."""
    if attr in SETTINGS:
        return attr
    if attr in OLD_NAMES:
        return OLD_NAMES[attr]
    if attr.islower():
        return attr
    if attr.isupper() and attr.startswith(_OLD_PREFIXES):
        return attr
    return None


def _namespaced_key(attr: str, prefix: str) -> str | None:
    """The key an attribute is returned under in namespace mode, or None to skip it."""
    if not attr.startswith(prefix) or len(attr) == len(prefix):
        return None
    rest = attr[len(prefix) :]
    if rest.lower() in SETTINGS:
        return rest.lower()
    if rest in OLD_NAMES:
        return OLD_NAMES[rest]
    if attr in OLD_NAMES:
        return OLD_NAMES[attr]
    return rest.lower()


def _is_code(value: object) -> bool:
    """Modules, functions and classes: helpers of a config module, not settings."""
    return inspect.ismodule(value) or inspect.isroutine(value) or inspect.isclass(value)


def _same(a: object, b: object) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:
        return False


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
