"""``Settings``: the configuration mapping, which validates values against the settings table."""

from __future__ import annotations

import copy
import difflib
import re
import reprlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeAlias, TypeVar, cast, runtime_checkable

from celeriac.config.settings_table import OLD_NAMES, SETTINGS, Setting, describe_type
from celeriac.config.settings_types import SettingsAttributes
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from _typeshed import SupportsKeysAndGetItem

__all__ = ["Settings", "UnknownSettingWarning", "mask_secrets", "mask_url_passwords"]

_V = TypeVar("_V")
T = TypeVar("T")


class UnknownSettingWarning(UserWarning):
    """A configuration key is not a known setting (it is stored anyway, as Celery does)."""


#: Every name difflib may suggest, lowercased -> the name as spelled.
#: (New names win where an old name is just the new one in uppercase.)
_SUGGESTABLE: dict[str, str] = {name.lower(): name for name in (*OLD_NAMES, *SETTINGS)}

_SECRET_KEY = re.compile(r"pass|secret|token|api_?key|access_key|signature", re.IGNORECASE)
# the password runs to the last "@" of the URL's network location, as urllib reads it
# (``redis://:p,a@ss@host/0``); several URLs may be joined with ";" (sentinel)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s;]*:)[^/\s;?#]*(?=@[^@/\s;?#]*(?:[/;?#\s]|$))", re.I
)
_QUERY_SECRET = re.compile(r"(?P<head>[?&][^=&]*(?:pass|secret|token|key)[^=&]*=)[^&\s;]*", re.I)
_MASK = "********"

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80


def _find(name: str) -> Setting | None:
    found = SETTINGS.get(name) or SETTINGS.get(OLD_NAMES.get(name, ""))
    if found is None:
        found = SETTINGS.get(name.lower()) or SETTINGS.get(OLD_NAMES.get(name.upper(), ""))
    return found


def _suggest(key: str) -> str | None:
    """The valid name ``key`` was most likely meant to be, spelled as the user should write it."""
    found = _find(key)
    if found is not None:
        return found.name
    upper = key.upper()
    if upper.startswith("CELERY_") and upper[7:].lower() in SETTINGS:
        return upper[7:].lower()
    matches = difflib.get_close_matches(key.lower(), _SUGGESTABLE, n=1, cutoff=0.7)
    if not matches:
        return None
    match = _SUGGESTABLE[matches[0]]
    # Suggest an old name only to someone writing old (uppercase) names.
    return match if key.isupper() else OLD_NAMES.get(match, match)


def _unknown_message(key: str) -> str:
    suggestion = _suggest(key)
    if suggestion is None:
        hint = "no setting has a similar name"
    elif suggestion in OLD_NAMES:
        hint = f"did you mean {suggestion!r} (new name {OLD_NAMES[suggestion]!r})?"
    elif key.upper().startswith("CELERY_") and suggestion == key[7:].lower():
        hint = f"did you mean {suggestion!r} (or load the config with namespace='CELERY')?"
    else:
        hint = f"did you mean {suggestion!r}?"
    return f"unknown setting {key!r}: {hint} (kept as a custom setting)"


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _mask(key: str, value: object) -> object:
    """``value`` with passwords in URLs and values of secret-looking keys replaced."""
    if value is None:
        return None
    if _is_secret_key(key) and not isinstance(value, bool):
        return _MASK
    if isinstance(value, str):
        value = mask_url_passwords(value)
        return _QUERY_SECRET.sub(lambda m: m.group("head") + _MASK, value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if type(value) is list:
        return [_mask(key, v) for v in value]
    if type(value) is tuple:
        return tuple(_mask(key, v) for v in value)
    return value


def mask_url_passwords(text: str, mask: str = _MASK) -> str:
    """``text`` with the password of every URL in it replaced by ``mask``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + mask, text)


def mask_secrets(key: str, value: object) -> object:
    """``value`` as settings are shown: passwords in URLs and the values of secret-looking
    keys (password, secret, token …) replaced by ``********``."""
    return _mask(key, value)


def _coerce(setting: Setting, value: object, given_as: str) -> object:
    """Validate ``value`` for ``setting``; return it (list strings split on commas).

    Raises:
        ImproperlyConfigured: the value has the wrong type or is not one of the choices.
    """
    if value is None:
        if setting.nullable:
            return None
        _reject(setting, value, given_as)
    types = setting.types
    if object in types:
        return value
    if setting.is_list and isinstance(value, str):
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    ok = isinstance(value, types)
    if isinstance(value, bool) and bool not in types:
        ok = False
    elif not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok and setting.is_list and not _all_strings(value):
        ok = False
    if not ok:
        _reject(setting, value, given_as)
    if setting.choices is not None and value not in setting.choices:
        allowed = ", ".join(repr(choice) for choice in setting.choices)
        raise ImproperlyConfigured(
            f"setting {_label(setting, given_as)} must be one of {allowed}; "
            f"got {_shown(setting.name, value)}"
        )
    return value


def _all_strings(value: object) -> bool:
    return isinstance(value, Iterable) and all(isinstance(item, str) for item in value)


def _label(setting: Setting, given_as: str) -> str:
    if given_as == setting.name:
        return repr(setting.name)
    return f"{setting.name!r} (given as {given_as!r})"


def _shown(key: str, value: object) -> str:
    return _repr.repr(_mask(key, value))


def _reject(setting: Setting, value: object, given_as: str) -> NoReturn:
    expected = describe_type(setting)
    if setting.is_list:
        expected = "a list of strings (or a comma-separated string)"
    if setting.nullable:
        expected += " or None"
    raise ImproperlyConfigured(
        f"setting {_label(setting, given_as)} expects {expected}, "
        f"got {type(value).__name__} {_shown(setting.name, value)}"
    )


@runtime_checkable
class _Keyed(Protocol):
    """What ``dict.update`` reads as a mapping: ``keys()`` and item access."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str, /) -> object: ...


#: What ``Settings.update`` takes: a mapping or ``(key, value)`` pairs (keys checked there).
_Source: TypeAlias = "SupportsKeysAndGetItem[str, object] | Iterable[tuple[str, object]]"


def _pairs(source: _Source | None) -> list[tuple[object, object]]:
    """The ``(key, value)`` pairs of an update's source, read the way ``dict.update`` does."""
    if source is None:
        return []
    if isinstance(source, Mapping):
        return list(source.items())
    if isinstance(source, _Keyed):
        keys = source.keys()
        return [(key, source[key]) for key in keys]
    return list(source)


def _fresh(value: _V) -> _V:
    """A copy of a default, so mutating one Settings never changes the table or another."""
    return copy.deepcopy(value) if isinstance(value, dict | list | set) else value


def _copied(value: _V) -> _V:
    return copy.copy(value) if isinstance(value, dict | list | set) else value


class Settings(MutableMapping[str, object], SettingsAttributes):
    """A mutable view of the configuration, starting from the table's defaults.

    Settings are read and written as attributes (``conf.broker_url``) or items
    (``conf["broker_url"]``). Old uppercase names are translated to the new ones when set
    and resolved when read. Values are type-checked when set. Unknown keys are stored, as
    Celery allows custom keys, but warn with ``UnknownSettingWarning`` naming the closest
    valid name. Deleting a known setting resets it to its default.

    To type checkers each setting is an attribute of its own type (``conf.task_time_limit``
    is a ``float | None``; see ``SettingsAttributes``, generated from the table), while an
    item (``conf["task_time_limit"]``) or a custom key read as an attribute is an
    ``object``, to be narrowed before use.

    Args:
        mapping: Initial values, as for ``update``.
        **kwargs: More initial values.

    Raises:
        ImproperlyConfigured: a value has the wrong type.
    """

    __slots__ = ("_generation", "_given", "_snapshots", "_values")

    _values: dict[str, object]
    #: the settings set explicitly (even to their default), by name, with the key used
    _given: dict[str, str]
    #: bumped by every write, so a snapshot knows when it is stale
    _generation: int
    _snapshots: dict[Callable[[Settings], object], tuple[int, object]]

    def __init__(self, mapping: _Source | None = None, /, **kwargs: object) -> None:
        object.__setattr__(
            self, "_values", {name: _fresh(s.default) for name, s in SETTINGS.items()}
        )
        object.__setattr__(self, "_given", {})
        object.__setattr__(self, "_generation", 0)
        object.__setattr__(self, "_snapshots", {})
        self._update(mapping, kwargs, stacklevel=3)

    # -- mapping protocol ----------------------------------------------------------------

    def __getitem__(self, key: str) -> object:
        values = self._values
        if key in values:
            return values[key]
        new = OLD_NAMES.get(key)
        if new is not None:
            return values[new]
        raise KeyError(key)

    def __setitem__(self, key: str, value: object) -> None:
        self._update({key: value}, {}, stacklevel=3)

    def __delitem__(self, key: str) -> None:
        name = OLD_NAMES.get(key, key)
        if name in SETTINGS:
            self._values[name] = _fresh(SETTINGS[name].default)
        else:
            del self._values[key]
        self._given.pop(name, None)
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values or (isinstance(key, str) and key in OLD_NAMES)

    def clear(self) -> None:
        """Reset every setting to its default and drop custom keys."""
        object.__setattr__(
            self, "_values", {name: _fresh(s.default) for name, s in SETTINGS.items()}
        )
        self._given.clear()
        self._changed()

    def _changed(self) -> None:
        object.__setattr__(self, "_generation", self._generation + 1)

    def snapshot(self, build: Callable[[Settings], T]) -> T:
        """``build(self)``, computed once and kept until the settings next change.

        For values read on every task (the worker's option defaults): reading a few
        settings as typed attributes costs microseconds, a snapshot one dict lookup.
        ``build`` must read only the settings, and a value mutated in place (a dict
        setting changed without assigning it) does not count as a change.
        """
        kept = self._snapshots.get(build)
        if kept is not None and kept[0] == self._generation:
            return cast(T, kept[1])  # stored by this method for this very ``build``
        value = build(self)
        self._snapshots[build] = (self._generation, value)
        return value

    # -- attribute access ----------------------------------------------------------------

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            suggestion = _suggest(name)
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            raise AttributeError(f"no setting {name!r}{hint}") from None

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        elif hasattr(type(self), name):
            raise AttributeError(
                f"cannot set {name!r}: it is a Settings method; use conf[{name!r}] = ..."
            )
        else:
            self._update({name: value}, {}, stacklevel=3)

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> Iterable[str]:
        return sorted({*super().__dir__(), *(k for k in self._values if k.isidentifier())})

    # -- updating ------------------------------------------------------------------------

    def update(self, mapping: _Source | None = None, /, **kwargs: object) -> None:
        """Set several settings at once.

        Old uppercase names are translated to the new names. The update is all or nothing:
        when a value is invalid, nothing is changed.

        Args:
            mapping: A mapping (anything with ``keys()``, as for ``dict.update``), or an
                iterable of ``(key, value)`` pairs.
            **kwargs: More settings.

        Raises:
            ImproperlyConfigured: a value has the wrong type, or a setting is given twice
                (under its old and new names) with different values.
        """
        self._update(mapping, kwargs, stacklevel=3)

    def _update(
        self,
        mapping: _Source | None,
        kwargs: Mapping[str, object],
        *,
        stacklevel: int,
    ) -> None:
        pairs = [*_pairs(mapping), *kwargs.items()]
        staged: dict[str, tuple[str, object]] = {}
        unknown: list[str] = []
        for key, value in pairs:
            if not isinstance(key, str):
                raise ImproperlyConfigured(
                    f"setting names must be strings, got {type(key).__name__} {key!r}"
                )
            name = OLD_NAMES.get(key, key)
            setting = SETTINGS.get(name)
            if setting is not None:
                value = _coerce(setting, value, key)
            elif not key.startswith("_"):
                unknown.append(key)
            previous = staged.get(name)
            if previous is not None and previous[0] != key and not _same(previous[1], value):
                raise ImproperlyConfigured(
                    f"setting {name!r} is given twice with different values, as "
                    f"{previous[0]!r} and {key!r}; keep only {name!r}"
                )
            staged[name] = (key, value)
        for key in unknown:
            warnings.warn(_unknown_message(key), UnknownSettingWarning, stacklevel=stacklevel)
        for name, (key, value) in staged.items():
            self._values[name] = value
            self._given[name] = key
        if staged:
            self._changed()

    # -- queries -------------------------------------------------------------------------

    def get(self, key: str, default: object = None) -> object:
        """The value of ``key`` (new or old name), or ``default`` when it is not set."""
        try:
            return self[key]
        except KeyError:
            return default

    def find(self, name: str) -> Setting | None:
        """The table entry for ``name`` (new or old name, any case), or ``None``."""
        return _find(name)

    def changes(self) -> dict[str, object]:
        """Values that differ from the defaults, plus custom keys."""
        return {
            key: value
            for key, value in self._values.items()
            if key not in SETTINGS or not _same(value, SETTINGS[key].default)
        }

    def explicit(self) -> dict[str, object]:
        """What Celery calls the configuration without defaults: every setting set
        explicitly (even to its default value, as ``enable_utc=True``), every value that
        differs from its default, and custom keys."""
        values = self._values
        return {
            **{name: values[name] for name in self._given if name in values},
            **self.changes(),
        }

    def deprecated_names(self) -> list[str]:
        """The old (pre-4.0) setting names this configuration was given, e.g.
        ``CELERY_RESULT_BACKEND`` (Celery's ``conf.deprecated_settings``)."""
        return sorted(key for name, key in self._given.items() if key != name)

    def humanize(self, with_defaults: bool = False) -> str:
        """Render the configuration as sorted ``key: value`` lines, secrets masked.

        Passwords in URLs, secret-looking query parameters and the values of keys whose
        names look secret (password, secret, token, ...) are replaced by ``********``.

        Args:
            with_defaults: Include settings still at their default.

        Returns:
            The lines, joined with newlines.
        """
        values = self._values if with_defaults else self.changes()
        return "\n".join(f"{key}: {_mask(key, values[key])!r}" for key in sorted(values))

    def copy(self) -> Settings:
        """An independent copy (dict, list and set values are copied one level deep)."""
        clone = type(self).__new__(type(self))
        object.__setattr__(clone, "_values", {k: _copied(v) for k, v in self._values.items()})
        object.__setattr__(clone, "_given", dict(self._given))
        object.__setattr__(clone, "_generation", 0)
        object.__setattr__(clone, "_snapshots", {})
        return clone

    __copy__ = copy

    def __repr__(self) -> str:
        masked = {key: _mask(key, value) for key, value in self.changes().items()}
        return f"{type(self).__name__}({masked!r})"


def _same(a: object, b: object) -> bool:
    """Equality that tells ``True`` from ``1`` and survives objects whose ``==`` raises."""
    if a is b:
        return True
    if isinstance(a, bool) is not isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False
