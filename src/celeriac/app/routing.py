"""Task routing: where a task message goes (``task_routes``, queues and exchanges), as Celery
decides it.

:func:`resolve_route` asks the routers of ``task_routes`` in order: a dict by task name
(exact names first, then ``*`` globs and compiled regexes in order), a router function
``(name, args, kwargs, options, task=None, **kw)``, an object with ``route_for_task``
(Celery's pre-4.0 router classes), an import path of either, or a list of those.

:func:`destination` then merges the route under the call's options and the task's own
``queue``/``exchange``/``routing_key``/``priority`` attributes (options win, then the task,
then the route, as in Celery) and works out the exchange and routing key the message
carries (``delivery_info``) as Celery's ``send_task_message`` does: a queue on a direct
exchange is reached through the default exchange (``''``) by its name.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from celeriac.config.entities import Queue, as_queue
from celeriac.config.queues import QueueTable

__all__ = [
    "Destination",
    "Route",
    "destination",
    "import_router",
    "match_mapping",
    "resolve_route",
]

#: A route: ``queue``, ``routing_key``, ``exchange``, ``priority`` … (Celery's keys).
Route = dict[str, object]

#: Publish options a route may carry besides where the message goes.
ROUTE_OPTIONS = ("priority", "serializer", "compression")

#: Options that decide where a message goes (and the task attributes that give defaults).
ROUTING_KEYS = ("queue", "exchange", "routing_key", "priority", "exchange_type")


def _route(found: object) -> Route:
    if isinstance(found, str | Queue) or _looks_like_queue(found):
        return {"queue": found}
    if isinstance(found, Mapping):
        return {str(key): value for key, value in found.items()}
    raise TypeError(f"a route is a queue, a queue name or a dict, not {found!r}")


def _looks_like_queue(value: object) -> bool:
    """kombu's ``Queue`` (read by its attributes, celeriac does not import kombu)."""
    return hasattr(value, "routing_key") and hasattr(value, "queue_arguments")


def match_mapping(routes: Mapping[object, object], name: str) -> Route | None:
    """The route of ``name`` in a dict router (exact name, then globs and regexes)."""
    exact = routes.get(name)
    if exact is not None:
        return _route(exact)
    for pattern, route in routes.items():
        if isinstance(pattern, re.Pattern):
            matched = pattern.match(name) is not None
        else:
            matched = "*" in str(pattern) and fnmatch.fnmatchcase(name, str(pattern))
        if matched:
            return _route(route)
    return None


def import_router(path: str) -> object:
    """The router an import path names (a router class is instantiated, as Celery does)."""
    module, _, attribute = path.replace(":", ".").rpartition(".")
    try:
        found: object = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImportError(f"task_routes: cannot import router {path!r}: {exc}") from exc
    if isinstance(found, type) and hasattr(found, "route_for_task"):
        return found()  # Celery instantiates pre-4.0 router classes named by path
    return found


def _from_router(
    router: object,
    name: str,
    args: object,
    kwargs: object,
    options: Mapping[str, object],
    task: object,
) -> Route | None:
    if isinstance(router, str):
        router = import_router(router)
    if isinstance(router, Mapping):
        return match_mapping(router, name)
    if isinstance(router, list | tuple) and all(isinstance(p, list | tuple) for p in router):
        return match_mapping(dict(router), name)  # Celery's MapRoute of (pattern, route) pairs
    found: object
    if hasattr(router, "route_for_task"):
        found = router.route_for_task(name, args, kwargs)
    elif callable(router):
        fun: Callable[..., object] = router
        try:
            found = fun(name, args, kwargs, options, task=task)
        except TypeError:
            found = fun(name, args, kwargs, options)
    else:
        raise TypeError(f"task_routes: {router!r} is not a router (dict, function, path)")
    return None if not found else _route(found)


def resolve_route(
    routes: object,
    name: str,
    args: object,
    kwargs: object,
    options: Mapping[str, object],
    task: object = None,
) -> Route:
    """Return the route (``queue``, ``routing_key``, ``exchange``, ``priority`` …) for a task.

    ``routes`` is Celery's ``task_routes``: a mapping of names, glob patterns or compiled
    regexes to a queue (name or object) or route dict, a router function or object, the
    import path of one, or a list of those, tried in order. Returns ``{}`` when nothing
    matches.
    """
    if not routes:
        return {}
    candidates = routes if isinstance(routes, list | tuple) else [routes]
    for router in candidates:
        found = _from_router(router, name, args, kwargs, options, task)
        if found:
            return found
    return {}


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes.

    Attributes:
        queue: the queue the route names (Celery's ``qname``); a producer declares it.
        exchange: the exchange the message is sent to (``''``: the default exchange).
        routing_key: its routing key.
        options: the route's ``priority``, ``serializer`` and ``compression`` (Celery
            passes a route's other keys on as publish options): defaults under the call's
            options and the task's attributes.
        declared: the :class:`~celeriac.config.entities.Queue` of ``queue``.
    """

    queue: str
    exchange: str
    routing_key: str
    options: Mapping[str, object]
    declared: Queue


def _task_options(task: object) -> dict[str, object]:
    if task is None:
        return {}
    return {key: getattr(task, key, None) for key in ("queue", "exchange", "routing_key")}


def _merged(*layers: Mapping[str, object]) -> dict[str, object]:
    """Later layers win, except where their value is ``None`` (Celery's ``lpmerge``)."""
    merged: dict[str, object] = {}
    for layer in layers:
        for key in ROUTING_KEYS:
            value = layer.get(key)
            if value is not None:
                merged[key] = value
    return merged


def _exchange_name(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(getattr(value, "name", value) or "")


def _queue_of(table: QueueTable, value: object) -> Queue:
    if isinstance(value, str):
        return table.get(value)
    return table.defaults(as_queue(value))


def destination(
    table: QueueTable,
    routes: object,
    name: str,
    args: object,
    kwargs: object,
    options: Mapping[str, object],
    task: object = None,
) -> Destination:
    """Route one call: ``task_routes``, then the task's attributes, then the call's options.

    Raises:
        QueueNotFound: a queue named is not declared and ``task_create_missing_queues``
            is off.
    """
    found = resolve_route(routes, name, args, kwargs, options, task) if routes else {}
    merged = _merged(found, _task_options(task), options)
    queue = _queue_of(table, merged.get("queue") or table.default_queue)
    exchange_value = merged.get("exchange")
    routing_key = merged.get("routing_key")
    exchange_type = merged.get("exchange_type")
    if exchange_type is None:
        exchange_type = queue.exchange.type if queue.exchange is not None else "direct"
    exchange = _exchange_name(exchange_value)
    if (not exchange or not routing_key) and exchange_type == "direct":
        exchange, routing_key = "", queue.name
    elif exchange_value is None:
        exchange = (queue.exchange.name if queue.exchange is not None else "") or (
            table.default_exchange.name
        )
        routing_key = routing_key or queue.routing_key or table.default_routing_key
    return Destination(
        queue=queue.name,
        exchange=exchange,
        routing_key=str(routing_key or ""),
        options={key: found[key] for key in ROUTE_OPTIONS if found.get(key) is not None},
        declared=queue,
    )
