"""Celery's ``celery.utils.objects``: small object helpers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from functools import reduce
from types import TracebackType
from typing import Any

__all__ = ["Bunch", "FallbackContext", "getitem_property", "mro_lookup"]


class Bunch:
    """An object whose attributes are the keyword arguments it was made with."""

    def __init__(self, **kwargs: object) -> None:
        self.__dict__.update(kwargs)


def mro_lookup(
    cls: type,
    attr: str,
    stop: Collection[type] | None = None,
    monkey_patched: Sequence[str] | None = None,
) -> type | None:
    """The first class in ``cls``'s MRO that defines ``attr`` (None: none does).

    Reaching a class in ``stop`` ends the search: that class is returned only when it
    defines ``attr`` with a ``__module__`` not in ``monkey_patched``.
    """
    stop = stop or set()
    patched = list(monkey_patched or [])
    for node in cls.mro():
        if node in stop:
            value = node.__dict__.get(attr)
            origin = getattr(value, "__module__", None)
            if value is not None and origin is not None and origin not in patched:
                return node
            return None
        if attr in node.__dict__:
            return node
    return None


class FallbackContext:
    """``with FallbackContext(provided, fallback, *args):`` yields ``provided`` when it is
    not None, else enters (and later exits) ``fallback(*args, **kwargs)``."""

    def __init__(
        self,
        provided: object,
        fallback: Callable[..., AbstractContextManager[object]],
        *fb_args: object,
        **fb_kwargs: object,
    ) -> None:
        self.provided = provided
        self.fallback = fallback
        self.fb_args = fb_args
        self.fb_kwargs = fb_kwargs
        self._context: AbstractContextManager[object] | None = None

    def __enter__(self) -> Any:
        if self.provided is not None:
            return self.provided
        context = self.fallback(*self.fb_args, **self.fb_kwargs)
        value = context.__enter__()
        self._context = context
        return value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._context is not None:
            return self._context.__exit__(exc_type, exc, tb)
        return None


class getitem_property:
    """A descriptor reading and writing ``obj[key]`` (``'a.b'``: ``obj['a']['b']``)."""

    def __init__(self, keypath: str, doc: str | None = None) -> None:
        path, _, self.key = keypath.rpartition(".")
        self.path = path.split(".") if path else None
        self.__doc__ = doc

    def _path(self, obj: Any) -> Any:
        return reduce(lambda d, k: d[k], [obj, *self.path]) if self.path else obj

    def __get__(self, obj: Any, type: type | None = None) -> Any:
        if obj is None:
            return type
        return self._path(obj).get(self.key)

    def __set__(self, obj: Any, value: object) -> None:
        self._path(obj)[self.key] = value
