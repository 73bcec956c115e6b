"""Celery's ``celery.utils.deprecated``: deprecation warnings for functions and properties."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable as CallableType
from typing import Generic, ParamSpec, TypeVar

from celeriac.exceptions import CDeprecationWarning, CPendingDeprecationWarning

__all__ = ["Callable", "Property", "warn"]

P = ParamSpec("P")
R = TypeVar("R")
OwnerT = TypeVar("OwnerT")

PENDING_DEPRECATION_FMT = (
    "{description} is scheduled for deprecation in version {deprecation} and removal in "
    "version v{removal}. {alternative}"
)
DEPRECATION_FMT = (
    "{description} is deprecated and scheduled for removal in version {removal}. {alternative}"
)


def warn(
    description: str | None = None,
    deprecation: str | None = None,
    removal: str | None = None,
    alternative: str | None = None,
    stacklevel: int = 2,
) -> None:
    """Warn that ``description`` is deprecated: :exc:`CPendingDeprecationWarning` when a
    ``deprecation`` version is given, else :exc:`CDeprecationWarning`."""
    ctx = {
        "description": description,
        "deprecation": deprecation,
        "removal": removal,
        "alternative": alternative,
    }
    warning: Warning
    if deprecation is not None:
        warning = CPendingDeprecationWarning(PENDING_DEPRECATION_FMT.format(**ctx))
    else:
        warning = CDeprecationWarning(DEPRECATION_FMT.format(**ctx))
    warnings.warn(warning, stacklevel=stacklevel)


def Callable(
    deprecation: str | None = None,
    removal: str | None = None,
    alternative: str | None = None,
    description: str | None = None,
) -> CallableType[[CallableType[P, R]], CallableType[P, R]]:
    """Decorate a function so that each call warns it is deprecated (see :func:`warn`)."""

    def decorate(fun: CallableType[P, R]) -> CallableType[P, R]:
        @functools.wraps(fun)
        def deprecated(*args: P.args, **kwargs: P.kwargs) -> R:
            warn(
                description=description or f"{fun.__module__}.{fun.__qualname__}",
                deprecation=deprecation,
                removal=removal,
                alternative=alternative,
                stacklevel=3,
            )
            return fun(*args, **kwargs)

        return deprecated

    return decorate


def Property(
    deprecation: str | None = None,
    removal: str | None = None,
    alternative: str | None = None,
    description: str | None = None,
) -> CallableType[[CallableType[[OwnerT], R]], _DeprecatedProperty[OwnerT, R]]:
    """Decorate a property getter so that reading (and setting) it warns it is deprecated."""

    def decorate(fun: CallableType[[OwnerT], R]) -> _DeprecatedProperty[OwnerT, R]:
        return _DeprecatedProperty(
            fun,
            deprecation=deprecation,
            removal=removal,
            alternative=alternative,
            description=description or fun.__name__,
        )

    return decorate


class _DeprecatedProperty(Generic[OwnerT, R]):
    def __init__(
        self,
        fget: CallableType[[OwnerT], R],
        fset: CallableType[[OwnerT, R], None] | None = None,
        fdel: CallableType[[OwnerT], None] | None = None,
        **depreinfo: str | int | None,
    ) -> None:
        self._get, self._set, self._del = fget, fset, fdel
        self.__name__, self.__doc__ = fget.__name__, fget.__doc__
        self.depreinfo = depreinfo
        self.depreinfo.setdefault("stacklevel", 3)

    def __get__(
        self, obj: OwnerT | None, type: type | None = None
    ) -> R | _DeprecatedProperty[OwnerT, R]:
        if obj is None:
            return self
        warn(**self.depreinfo)  # type: ignore[arg-type]
        return self._get(obj)

    def __set__(self, obj: OwnerT, value: R) -> None:
        if self._set is None:
            raise AttributeError("cannot set attribute")
        warn(**self.depreinfo)  # type: ignore[arg-type]
        self._set(obj, value)

    def __delete__(self, obj: OwnerT) -> None:
        if self._del is None:
            raise AttributeError("cannot delete attribute")
        warn(**self.depreinfo)  # type: ignore[arg-type]
        self._del(obj)

    def setter(self, fset: CallableType[[OwnerT, R], None]) -> _DeprecatedProperty[OwnerT, R]:
        """The property with a setter."""
        return type(self)(self._get, fset, self._del, **self.depreinfo)

    def deleter(self, fdel: CallableType[[OwnerT], None]) -> _DeprecatedProperty[OwnerT, R]:
        """The property with a deleter."""
        return type(self)(self._get, self._set, fdel, **self.depreinfo)
