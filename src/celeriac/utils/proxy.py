"""Proxy: an object that forwards every access to what a function returns now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Proxy"]

_T = TypeVar("_T")


class Proxy(Generic[_T]):
    """Forward attribute access, calls and comparisons to ``factory()`` at each use.

    ``current_app`` and ``current_task`` are proxies, so a module that imports them
    before any app exists still sees the app that is current when it uses them.
    """

    __slots__ = ("__factory",)

    __factory: Callable[[], _T]

    def __init__(self, factory: Callable[[], _T]) -> None:
        object.__setattr__(self, "_Proxy__factory", factory)

    def _get_current_object(self) -> _T:
        """The object this proxy stands for right now."""
        return self.__factory()

    def __getattr__(self, name: str) -> object:
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._get_current_object(), name, value)

    def __call__(self, *args: object, **kwargs: object) -> object:
        target = self._get_current_object()
        if not callable(target):
            raise TypeError(f"{type(target).__name__!r} object is not callable")
        return target(*args, **kwargs)

    def __bool__(self) -> bool:
        return bool(self._get_current_object())

    def __eq__(self, other: object) -> bool:
        return bool(self._get_current_object() == other)

    def __hash__(self) -> int:
        return hash(self._get_current_object())

    def __repr__(self) -> str:
        return repr(self._get_current_object())
