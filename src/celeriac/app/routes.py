"""Celery's ``celery.app.routes``: ``MapRoute``, ``Router`` and ``prepare`` for code that
builds or asks routers itself. The send path uses :mod:`celeriac.app.routing`, which
decides the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from celeriac.app.routing import Route, import_router, match_mapping, resolve_route
from celeriac.config.entities import Queue, as_queue
from celeriac.exceptions import QueueNotFound

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["MapRoute", "Router", "expand_router_string", "prepare"]


class MapRoute:
    """A router made of a dict (or ``(pattern, route)`` pairs): exact task names first,
    then ``*`` globs and compiled regexes in order."""

    def __init__(self, map: Mapping[object, object] | Iterable[tuple[object, object]]) -> None:
        self.map: dict[object, object] = dict(map.items() if isinstance(map, Mapping) else map)

    def __call__(self, name: str, *args: object, **kwargs: object) -> Route | None:
        return match_mapping(self.map, name)


def expand_router_string(router: str) -> object:
    """The router an import path names (a pre-4.0 router class is instantiated)."""
    return import_router(router)


def prepare(routes: object) -> list[object]:
    """``task_routes`` as a list of routers (dicts and pairs become :class:`MapRoute`)."""
    if routes is None:
        return []
    items = routes if isinstance(routes, list | tuple) else [routes]
    prepared: list[object] = []
    for route in items:
        if isinstance(route, Mapping | list | tuple):
            prepared.append(MapRoute(route))
        elif isinstance(route, str):
            prepared.append(expand_router_string(route))
        else:
            prepared.append(route)
    return prepared


class Router:
    """Celery's router: the route of a call, its ``queue`` expanded to a ``Queue``.

    Args:
        routes: prepared routers (:func:`prepare`).
        queues: queue name → ``Queue`` (``app.amqp.queues``).
        create_missing: make undeclared queues instead of raising ``QueueNotFound``.
        app: the app (for ``task_default_queue``).
    """

    def __init__(
        self,
        routes: Iterable[object] | None = None,
        queues: Mapping[str, Queue] | None = None,
        create_missing: bool = False,
        app: Celery | None = None,
    ) -> None:
        self.app = app
        self.queues: Mapping[str, Queue] = {} if queues is None else queues
        self.routes = list(routes or [])
        self.create_missing = create_missing

    def route(
        self,
        options: Mapping[str, object],
        name: str,
        args: object = (),
        kwargs: object = None,
        task_type: object = None,
    ) -> dict[str, object]:
        """The call's options merged over its route (options win), ``queue`` a ``Queue``."""
        merged = self.expand_destination(dict(options))
        found = self.lookup_route(name, args, kwargs or {}, merged, task_type)
        if found:
            route = self.expand_destination(found)
            route.update({key: value for key, value in merged.items() if value is not None})
            return route
        if "queue" not in merged and self.app is not None:
            default = self.expand_destination(self.app.conf.task_default_queue)
            merged = {**default, **{k: v for k, v in merged.items() if v is not None}}
        return merged

    def expand_destination(self, route: object) -> dict[str, object]:
        """A route with its ``queue`` name replaced by the ``Queue``."""
        if isinstance(route, str):
            queue: object = route
            expanded: dict[str, object] = {}
        else:
            expanded = dict(route) if isinstance(route, Mapping) else {}
            queue = expanded.pop("queue", None)
        if isinstance(queue, str) and queue:
            try:
                expanded["queue"] = self.queues[queue]
            except KeyError:
                if not self.create_missing:
                    raise QueueNotFound(f"Queue {queue!r} missing from task_queues") from None
                expanded["queue"] = as_queue(queue)
        elif queue:
            expanded["queue"] = as_queue(queue)
        return expanded

    def lookup_route(
        self,
        name: str,
        args: object = None,
        kwargs: object = None,
        options: Mapping[str, object] | None = None,
        task_type: object = None,
    ) -> Route | None:
        """The first route a router gives (``None`` when none answers)."""
        return resolve_route(self.routes, name, args, kwargs, options or {}, task_type) or None
