"""Helpers to pickle exceptions safely and coerce values (Celery's ``celery.utils.serialization``).

An exception that cannot be pickled (its class is local, or its arguments are not
picklable) travels as an :class:`UnpickleableExceptionWrapper` (module, class name and
``repr``-safe args) and is rebuilt on the other side as a class of the same name.
"""

from __future__ import annotations

import base64
import datetime
import numbers
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from inspect import getmro
from itertools import takewhile
from typing import Any, NoReturn

__all__ = [
    "UnpickleableExceptionWrapper",
    "b64decode",
    "b64encode",
    "create_exception_cls",
    "ensure_serializable",
    "find_pickleable_exception",
    "get_pickleable_etype",
    "get_pickleable_exception",
    "get_pickled_exception",
    "jsonify",
    "raise_with_context",
    "strtobool",
    "subclass_exception",
]

#: Base classes an exception is never reduced to.
unwanted_base_classes: tuple[type, ...] = (Exception, BaseException, object)

STRTOBOOL_DEFAULT_TABLE: dict[str, bool] = {
    "false": False, "no": False, "0": False, "off": False,
    "true": True, "yes": True, "1": True, "on": True,
}  # fmt: skip


def _roundtrip(value: object) -> object:
    return pickle.loads(pickle.dumps(value))


def subclass_exception(name: str, parent: type[BaseException], module: str) -> type[Exception]:
    """A new exception class ``module.name`` deriving from ``parent``."""
    return type(name, (parent,), {"__module__": module})


def create_exception_cls(
    name: str, module: str, parent: type[BaseException] | None = None
) -> type[Exception]:
    """An exception class made on the fly (``Exception`` subclass by default)."""
    return subclass_exception(name, parent or Exception, module)


def itermro(cls: type, stop: tuple[type, ...]) -> Iterator[type]:
    """``cls``'s MRO up to (not including) the first class in ``stop``."""
    return takewhile(lambda sup: sup not in stop, getmro(cls))


def find_pickleable_exception(
    exc: BaseException,
    loads: Callable[[bytes], Any] = pickle.loads,
    dumps: Callable[[Any], bytes] = pickle.dumps,
) -> BaseException | None:
    """The nearest base class of ``exc`` (above ``Exception``) that pickles, built with
    ``exc``'s args; ``None`` when there is none."""
    exc_args = getattr(exc, "args", [])
    for supercls in itermro(exc.__class__, unwanted_base_classes):
        try:
            superexc = supercls(*exc_args)
            loads(dumps(superexc))
        except Exception:
            continue
        return superexc  # type: ignore[no-any-return]
    return None


def ensure_serializable(
    items: Iterable[object], encoder: Callable[[object], object]
) -> tuple[object, ...]:
    """``items`` with each one ``encoder`` refuses replaced by its ``repr``."""
    safe: list[object] = []
    for item in items:
        try:
            encoder(item)
            safe.append(item)
        except Exception:
            safe.append(repr(item))
    return tuple(safe)


class UnpickleableExceptionWrapper(Exception):
    """Stands in for an exception that cannot be pickled: module, class name and args.

    ``restore()`` rebuilds an exception of the same class name and module.
    """

    exc_module: str | None = None
    exc_cls_name: str | None = None
    exc_args: tuple[object, ...] | None = None

    def __init__(
        self,
        exc_module: str,
        exc_cls_name: str,
        exc_args: Iterable[object],
        text: str | None = None,
    ) -> None:
        safe_args = ensure_serializable(exc_args, _roundtrip)
        self.exc_module = exc_module
        self.exc_cls_name = exc_cls_name
        self.exc_args = safe_args
        self.text = text
        super().__init__(exc_module, exc_cls_name, safe_args, text)

    def restore(self) -> Exception:
        """An exception of the original class name, module and args."""
        cls = create_exception_cls(str(self.exc_cls_name), str(self.exc_module))
        return cls(*(self.exc_args or ()))

    def __str__(self) -> str:
        return str(self.text)

    @classmethod
    def from_exception(cls, exc: BaseException) -> UnpickleableExceptionWrapper:
        """Wrap ``exc`` (its traceback kept)."""
        wrapper = cls(
            exc.__class__.__module__, exc.__class__.__name__, getattr(exc, "args", []), repr(exc)
        )
        if exc.__traceback__ is not None:
            wrapper = wrapper.with_traceback(exc.__traceback__)
        return wrapper


def get_pickleable_exception(exc: BaseException) -> BaseException:
    """``exc`` if it pickles, else its nearest pickleable base, else a wrapper."""
    try:
        _roundtrip(exc)
    except Exception:
        pass
    else:
        return exc
    nearest = find_pickleable_exception(exc)
    if nearest is not None:
        return nearest
    return UnpickleableExceptionWrapper.from_exception(exc)


def get_pickleable_etype(
    cls: type[BaseException],
    loads: Callable[[bytes], Any] = pickle.loads,
    dumps: Callable[[Any], bytes] = pickle.dumps,
) -> type[BaseException]:
    """``cls`` if the class pickles, else ``Exception``."""
    try:
        loads(dumps(cls))
    except Exception:
        return Exception
    return cls


def get_pickled_exception(exc: BaseException) -> BaseException:
    """The reverse of :func:`get_pickleable_exception`: a wrapper is restored."""
    if isinstance(exc, UnpickleableExceptionWrapper):
        return exc.restore()
    return exc


def b64encode(s: str | bytes) -> str:
    """Base64 of ``s`` (text or bytes) as text."""
    data = s.encode() if isinstance(s, str) else s
    return base64.b64encode(data).decode()


def b64decode(s: str | bytes) -> bytes:
    """The bytes of base64 text ``s``."""
    return base64.b64decode(s.encode() if isinstance(s, str) else s)


def strtobool(term: object, table: Mapping[str, bool] | None = None) -> object:
    """``"yes"``/``"no"``, ``"true"``/``"false"``, ``"on"``/``"off"``, ``"1"``/``"0"`` to a
    bool; a non-string is returned as it is.

    Raises:
        TypeError: an unknown word.
    """
    if not isinstance(term, str):
        return term
    try:
        return (table if table is not None else STRTOBOOL_DEFAULT_TABLE)[term.lower()]
    except KeyError:
        raise TypeError(f"Cannot coerce {term!r} to type bool") from None


def _datetime_to_json(value: datetime.date | datetime.time) -> str:
    """ECMA-262 date-time text (milliseconds, ``Z`` for UTC), as Celery writes it."""
    text = value.isoformat()
    if isinstance(value, datetime.datetime):
        if value.microsecond:
            text = text[:23] + text[26:]
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
    elif isinstance(value, datetime.time) and value.microsecond:
        text = text[:12]
    return text


def jsonify(
    obj: object,
    builtin_types: tuple[type, ...] = (numbers.Real, str),
    key: object = None,
    keyfilter: Callable[[object], bool] | None = None,
    unknown_type_filter: Callable[[object], object] | None = None,
) -> object:
    """``obj`` made of JSON types: lists for tuples, ISO text for dates, ``str`` for
    timedeltas; anything else goes to ``unknown_type_filter`` (``ValueError`` without one)."""

    def again(value: object, key: object = None) -> object:
        return jsonify(value, builtin_types, key, keyfilter, unknown_type_filter)

    as_dict = getattr(obj, "as_dict", None)
    if callable(as_dict) and not isinstance(obj, Mapping):  # kombu's Queue/Exchange objects
        obj = as_dict(recurse=True)
    if obj is None or isinstance(obj, builtin_types):
        return obj
    if isinstance(obj, list | tuple):
        return [again(value) for value in obj]
    if isinstance(obj, Mapping):
        return {k: again(v, k) for k, v in obj.items() if (keyfilter(k) if keyfilter else True)}
    if isinstance(obj, datetime.date | datetime.time):
        return _datetime_to_json(obj)
    if isinstance(obj, datetime.timedelta):
        return str(obj)
    if unknown_type_filter is None:
        raise ValueError(f"Unsupported type: {type(obj)!r} {obj!r} (parent: {key})")
    return unknown_type_filter(obj)


def raise_with_context(exc: BaseException) -> NoReturn:
    """Raise ``exc`` chained to the exception being handled (re-raise it if it is that one)."""
    current = sys.exc_info()[1]
    if current is None:
        raise exc
    if current is exc:
        raise exc
    raise exc from current
