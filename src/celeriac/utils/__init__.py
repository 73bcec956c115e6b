"""Celery's ``celery.utils`` helpers: ids, node names, imports, small functional tools."""

from __future__ import annotations

import functools
import uuid as _uuid
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import Any, TypeVar

from celeriac.utils.imports import gen_task_name, import_from_cwd, instantiate
from celeriac.utils.imports import qualname as get_full_cls_name
from celeriac.utils.imports import symbol_by_name as get_cls_by_name
from celeriac.utils.log import LOG_LEVELS
from celeriac.utils.nodenames import nodename, nodesplit, worker_direct

__all__ = [
    "LOG_LEVELS",
    "cached_property",
    "chunks",
    "gen_task_name",
    "gen_unique_id",
    "get_cls_by_name",
    "get_full_cls_name",
    "import_from_cwd",
    "instantiate",
    "memoize",
    "nodename",
    "nodesplit",
    "noop",
    "uuid",
    "worker_direct",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


def uuid() -> str:
    """A new unique id (a UUID4 string), as task ids are."""
    return str(_uuid.uuid4())


#: Celery's old name of :func:`uuid`.
gen_unique_id = uuid


def noop(*args: Any, **kwargs: Any) -> None:
    """Take any arguments, do nothing (a default callback)."""


def chunks(it: Iterable[_T], n: int) -> Iterator[list[_T]]:
    """Lists of ``n`` items of ``it`` (the last one shorter)."""
    iterator = iter(it)
    while batch := [item for _, item in zip(range(n), iterator, strict=False)]:
        yield batch


def memoize(
    maxsize: int | None = None, keyfun: Callable[..., Any] | None = None, Cache: Any = None
) -> Callable[[_F], _F]:
    """Cache a function's results by its arguments (``keyfun(args, kwargs)`` makes the key;
    at most ``maxsize`` kept, the least recently used dropped first)."""

    def decorate(fun: _F) -> _F:
        if keyfun is None and Cache is None:
            return functools.lru_cache(maxsize=maxsize)(fun)  # type: ignore[return-value]
        cache: dict[Any, Any] = Cache() if Cache is not None else {}

        @functools.wraps(fun)
        def memoized(*args: Any, **kwargs: Any) -> Any:
            key = keyfun(args, kwargs) if keyfun else (args, tuple(sorted(kwargs.items())))
            if key in cache:
                value = cache.pop(key)
            else:
                value = fun(*args, **kwargs)
                if maxsize is not None and len(cache) >= maxsize:
                    cache.pop(next(iter(cache)))
            cache[key] = value
            return value

        memoized.clear = cache.clear  # type: ignore[attr-defined]
        return memoized  # type: ignore[return-value]

    return decorate
