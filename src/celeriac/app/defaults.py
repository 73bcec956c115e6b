"""Celery's ``celery.app.defaults``: every setting as an :class:`Option`, by namespace.

Built from celeriac's settings table (``celeriac.config.settings_table``), so it lists the
same 200-odd settings ``app.conf`` accepts: ``NAMESPACES["broker"]["url"]`` is the
``broker_url`` option, :func:`flatten` yields ``("broker_url", Option)`` pairs and
:func:`find` looks a name up (new or old style: ``"BROKER_URL"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from celeriac.config.settings_table import OLD_NAMES, SETTINGS, Setting

__all__ = ["NAMESPACES", "Option", "find", "flatten"]

_TYPE_NAMES = {str: "string", bool: "bool", int: "int", float: "float", dict: "dict"}
_TYPE_NAMES.update({list: "list", tuple: "tuple"})


class Option:
    """One setting: its ``default``, ``type`` name (``string``, ``bool``, ``int`` …) and
    ``old`` (pre-4.0) names."""

    def __init__(self, default: Any = None, *args: Any, **kwargs: Any) -> None:
        self.default = default
        self.type: str = kwargs.get("type") or "string"
        self.old: set[str] = set(kwargs.get("old") or ())
        self.alt = kwargs.get("alt")
        self.deprecate_by = kwargs.get("deprecate_by")
        self.remove_by = kwargs.get("remove_by")
        self.doc: str = kwargs.get("doc", "")

    def to_python(self, value: Any) -> Any:
        """A string value (an environment variable) as this option's type."""
        if not isinstance(value, str):
            return value
        if self.type == "bool":
            return value.strip().lower() in ("1", "true", "yes", "on")
        if self.type in ("int", "float"):
            return int(value) if self.type == "int" else float(value)
        if self.type in ("list", "tuple"):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def __repr__(self) -> str:
        return f"<Option: type->{self.type} default->{self.default!r}>"


def _option(setting: Setting) -> Option:
    kinds = setting.type if isinstance(setting.type, tuple) else (setting.type,)
    name = next((_TYPE_NAMES[k] for k in kinds if k in _TYPE_NAMES), "any")
    return Option(setting.default, type=name, old=setting.old_names, doc=setting.doc)


def _namespaces() -> dict[str, Any]:
    prefixes = Counter(name.split("_", 1)[0] for name in SETTINGS if "_" in name)
    tree: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        head, _, rest = name.partition("_")
        if rest and prefixes[head] > 1:
            tree.setdefault(head, {})[rest] = _option(setting)
        else:
            tree[name] = _option(setting)
    return tree


#: namespace -> key -> :class:`Option` (settings without a namespace at the top level)
NAMESPACES: dict[str, Any] = _namespaces()


class searchresult(NamedTuple):
    """What :func:`find` returns."""

    namespace: str | None
    key: str
    type: Option


def flatten(
    d: Mapping[str, Any] = NAMESPACES, root: str = "", **_: Any
) -> Iterator[tuple[str, Option]]:
    """``(setting name, Option)`` for every option under ``d``."""
    for key, value in d.items():
        if isinstance(value, Mapping):
            yield from flatten(value, f"{root}{key}_")
        else:
            yield f"{root}{key}", value


def find(name: str, namespace: str = "celery") -> searchresult:
    """Look a setting up by its name, its old name (``CELERY_TASK_SERIALIZER``) or its key
    within ``namespace``.

    Raises:
        KeyError: no such setting.
    """
    full = OLD_NAMES.get(name) or OLD_NAMES.get(name.upper()) or name.lower()
    if full not in SETTINGS and namespace and f"{namespace}_{full}" in SETTINGS:
        full = f"{namespace}_{full}"
    if full not in SETTINGS:
        raise KeyError(name)
    head, _, rest = full.partition("_")
    group = NAMESPACES.get(head)
    if rest and isinstance(group, Mapping) and rest in group:
        return searchresult(head, rest, group[rest])
    return searchresult(None, full, NAMESPACES[full])
