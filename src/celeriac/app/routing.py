"""Task routing: which queue a task goes to (``task_routes``), as a pure function."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Route", "resolve_route"]

Route = dict[str, Any]


def _match_mapping(routes: Mapping[Any, Any], name: str) -> Route | None:
    for pattern, route in routes.items():
        matched = (
            pattern.match(name) is not None
            if isinstance(pattern, re.Pattern)
            else fnmatch.fnmatchcase(name, pattern)
        )
        if matched:
            return {"queue": route} if isinstance(route, str) else dict(route)
    return None


def _from_router(
    router: Any, name: str, args: Any, kwargs: Any, options: Mapping[str, Any], task: Any
) -> Route | None:
    if isinstance(router, Mapping):
        return _match_mapping(router, name)
    if callable(router):
        fun: Callable[..., Any] = router
        try:
            found = fun(name, args, kwargs, options, task=task)
        except TypeError:
            found = fun(name, args, kwargs, options)
        if found is None:
            return None
        return {"queue": found} if isinstance(found, str) else dict(found)
    return None


def resolve_route(
    routes: Any, name: str, args: Any, kwargs: Any, options: Mapping[str, Any], task: Any = None
) -> Route:
    """Return the route (``queue``, ``routing_key``, ``exchange``, ``priority`` …) for a task.

    ``routes`` is Celery's ``task_routes``: a mapping of names or glob patterns (or
    compiled regexes) to a queue name or route dict, a router function, or a list of
    those, tried in order. Returns ``{}`` when nothing matches.
    """
    if not routes:
        return {}
    candidates = routes if isinstance(routes, list | tuple) else [routes]
    for router in candidates:
        found = _from_router(router, name, args, kwargs, options, task)
        if found:
            return found
    return {}
