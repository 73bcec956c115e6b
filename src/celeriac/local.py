"""Celery's ``celery.local``: lazy proxies (``Proxy``, ``PromiseProxy``) and helpers.

:class:`Proxy` forwards every use to what a function returns now (``current_app``);
:class:`PromiseProxy` calls its function once, at the first use, and keeps the value
(Celery's shared tasks and settings are such promises).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

from celeriac.utils.proxy import Proxy

__all__ = ["PromiseProxy", "Proxy", "maybe_evaluate", "try_import"]

_T = TypeVar("_T")


class PromiseProxy(Proxy[_T]):
    """A proxy that evaluates ``fun(*args, **kwargs)`` at its first use, then keeps it."""

    __slots__ = ("__pending", "__value")

    def __init__(
        self,
        fun: Callable[..., _T],
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        __doc__: str | None = None,
    ) -> None:
        object.__setattr__(self, "_PromiseProxy__pending", (fun, tuple(args or ()), kwargs))
        super().__init__(self.__evaluate__)

    def __evaluated__(self) -> bool:
        """Whether the value was computed already."""
        try:
            object.__getattribute__(self, "_PromiseProxy__value")
        except AttributeError:
            return False
        return True

    def __evaluate__(self) -> _T:
        """The value (computed now if it was not)."""
        try:
            return object.__getattribute__(self, "_PromiseProxy__value")  # type: ignore[no-any-return]
        except AttributeError:
            fun, args, kwargs = object.__getattribute__(self, "_PromiseProxy__pending")
            value = fun(*args, **dict(kwargs or {}))
            object.__setattr__(self, "_PromiseProxy__value", value)
            return value  # type: ignore[no-any-return]

    def __maybe_evaluate__(self) -> _T:
        """The value (Celery's name)."""
        return self.__evaluate__()


def maybe_evaluate(obj: Any) -> Any:
    """The value of a :class:`PromiseProxy`; anything else as it is."""
    if isinstance(obj, PromiseProxy):
        return obj.__evaluate__()
    return obj


def try_import(module: str, default: Any = None) -> ModuleType | Any:
    """Import ``module``; ``default`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return default
