"""Celery's remote-control commands (``ping``, ``revoke``, ``stats`` …) and their reply shapes.

Each handler takes the :class:`~celeriac.worker.control_nodes.ControlNode` it answers for and
the request's ``arguments`` as keyword arguments, and returns the reply value (``ok(x)`` is
``{"ok": x}``, ``nok(x)`` is ``{"error": x}``). ``shutdown`` raises
:class:`ShutdownRequested`: the mailbox stops the worker and sends no reply.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import resource
import signal as signal_module
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from celeriac import states
from celeriac.config.entity_dicts import queue_dict
from celeriac.config.queues import queue_table
from celeriac.exceptions import TaskRevokedError
from celeriac.worker.control_nodes import ControlNode

__all__ = ["ShutdownRequested", "handler", "handlers", "nok", "ok"]

logger = logging.getLogger("celery.worker.control")

#: States the 5.7 ``revoke`` overwrites with REVOKED at once for tasks not running here.
REVOCABLE_STATES = frozenset({states.PENDING, states.RECEIVED, states.RETRY, states.REJECTED})


def ok(value: Any) -> dict[str, Any]:
    """Celery's success reply shape."""
    return {"ok": value}


def nok(value: Any) -> dict[str, Any]:
    """Celery's failure reply shape."""
    return {"error": value}


def _set_repr(ids: list[str]) -> str:
    """A Python set's repr (Celery's revoke reply prints one)."""
    return "{" + ", ".join(repr(i) for i in ids) + "}" if ids else "set()"


class ShutdownRequested(Exception):
    """Raised by the ``shutdown`` handler: the mailbox stops the worker and sends no reply."""


# -- handlers -------------------------------------------------------------------------
Handler = Callable[..., Awaitable[Any]]
handlers: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register a control command under Celery's name."""

    def register(func: Handler) -> Handler:
        handlers[name] = func
        return func

    return register


@handler("ping")
async def ping(node: ControlNode, **_: object) -> object:
    return ok("pong")


def _ids(task_id: Any) -> list[str]:
    if task_id is None:
        return []
    if isinstance(task_id, str):
        return [task_id]
    return [str(item) for item in task_id]


def _signum(value: Any) -> int:
    if value is None or value == "":
        return int(signal_module.SIGTERM)
    if isinstance(value, int):
        return value
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal_module.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


async def _mark_revoked_in_backend(node: ControlNode, ids: list[str]) -> None:
    """Celery 5.7: write REVOKED now for tasks not running here that have not started."""
    app = node.app
    backend = app.backend
    if not backend.stores_results:
        return
    running = node.running_ids()

    def run() -> None:
        for task_id in ids:
            if task_id in running:
                continue
            meta = backend.get(task_id)
            state = (meta or {}).get("status", states.PENDING)
            if state in REVOCABLE_STATES:
                backend.store(
                    task_id,
                    app.result_meta(task_id, states.REVOKED, TaskRevokedError("revoked")),
                )

    try:
        await asyncio.to_thread(run)
    except Exception as exc:
        logger.warning("Storing REVOKED for %s failed: %r", ", ".join(ids), exc)


@handler("revoke")
async def revoke(
    node: ControlNode,
    task_id: Any = None,
    terminate: bool = False,
    signal: Any = None,
    **_: object,
) -> object:
    ids = _ids(task_id)
    signum = _signum(signal)
    node.revoked.add(ids)
    if node.statedb is not None:
        await asyncio.to_thread(node.statedb.add, ids)
    found = await node.apply_revoke(ids, bool(terminate), signum)
    await _mark_revoked_in_backend(node, ids)
    if terminate:
        terminated = [i for i, what in found.items() if what == "terminated"]
        stuck = [i for i, what in found.items() if what == "not terminable"]
        if stuck:
            text = "terminate: " + ", ".join(terminated) if terminated else "terminate:"
            return ok(
                f"{text} not terminable: {', '.join(stuck)} (a sync task running on a "
                "thread cannot be stopped; it is revoked and runs to completion)"
            )
        if not terminated:
            return ok("terminate: tasks unknown")
        return ok("terminate: " + ", ".join(terminated))
    logger.info("Tasks flagged as revoked: %s", ", ".join(ids))
    return ok(f"tasks {_set_repr(ids)} flagged as revoked")


@handler("terminate")
async def terminate(
    node: ControlNode, signal: Any = None, task_id: Any = None, **_: object
) -> object:
    return await revoke(node, task_id=task_id, terminate=True, signal=signal)


@handler("revoked")
async def revoked(node: ControlNode, **_: object) -> object:
    return node.revoked.ids()


@handler("active")
async def active(node: ControlNode, safe: Any = None, **_: object) -> object:
    items = node.active()
    if safe:
        for item in items:
            item["args"], item["kwargs"] = repr(item["args"]), repr(item["kwargs"])
    return items


@handler("reserved")
async def reserved(node: ControlNode, **_: object) -> object:
    return node.reserved()


@handler("scheduled")
async def scheduled(node: ControlNode, **_: object) -> object:
    return node.scheduled()


@handler("query_task")
async def query_task(node: ControlNode, ids: Any = None, **_: object) -> object:
    wanted = set(_ids(ids))
    found: dict[str, Any] = {}
    for info in node.active():
        if info["id"] in wanted:
            found[info["id"]] = ["active", info]
    for info in node.reserved():
        if info["id"] in wanted:
            found[info["id"]] = ["reserved", info]
    for item in node.scheduled():
        if item["request"]["id"] in wanted:
            found[item["request"]["id"]] = ["scheduled", item["request"]]
    return found


@handler("registered")
async def registered(node: ControlNode, taskinfoitems: Any = None, **_: object) -> object:
    attrs = list(taskinfoitems or [])
    out = []
    for name in sorted(node.app.tasks.regular()):
        task = node.app.tasks[name]
        fields = [
            f"{attr}={getattr(task, attr)}"
            for attr in attrs
            if getattr(task, attr, None) is not None
        ]
        out.append(f"{name} [{' '.join(fields)}]" if fields else name)
    return out


def _broker_info(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "hostname": parts.hostname,
        "userid": parts.username,
        "virtual_host": parts.path.lstrip("/") or "/",
        "port": parts.port,
        "insist": False,
        "ssl": parts.scheme in ("rediss", "amqps"),
        "transport": parts.scheme.split("+")[0] or "sqlite",
        "connect_timeout": 4,
        "transport_options": {},
        "login_method": None,
        "uri_prefix": None,
        "heartbeat": 120.0,
        "failover_strategy": "round-robin",
        "alternates": [],
    }


_RUSAGE_FIELDS = (
    *("utime", "stime", "maxrss", "ixrss", "idrss", "isrss", "minflt", "majflt"),
    *("nswap", "inblock", "oublock", "msgsnd", "msgrcv", "nsignals", "nvcsw", "nivcsw"),
)


def _rusage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {name: getattr(usage, f"ru_{name}") for name in _RUSAGE_FIELDS}


@handler("stats")
async def stats(node: ControlNode, **_: object) -> object:
    return {
        "total": node.totals(),
        "pid": os.getpid(),
        "clock": str(node.clock),
        "uptime": int(time.monotonic() - node.started_at),
        "pool": node.pool_info(),
        "broker": _broker_info(node.app.broker_url),
        "prefetch_count": node.prefetch_count(),
        "rusage": _rusage(),
    }


@handler("active_queues")
async def active_queues(node: ControlNode, **_: object) -> object:
    table = queue_table(node.app.conf)
    queues = node.queues or [node.app.conf.task_default_queue]
    return [queue_dict(table.queues.get(name) or table.missing(name)) for name in queues]


def _jsonable(value: Any) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _masked(key: str, value: Any) -> object:
    secret = any(word in key.lower() for word in ("password", "secret", "key", "token", "url"))
    if isinstance(value, str) and secret and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            return value.replace(f":{parts.password}@", ":********@")
        return value
    if secret and "url" not in key.lower() and value:
        return "********"
    return value


@handler("conf")
async def conf(node: ControlNode, with_defaults: bool = False, **_: object) -> object:
    settings = node.app.conf
    items = settings.items() if with_defaults else _explicit(settings)
    reply = {key: _jsonable(_masked(key, value)) for key, value in items}
    deprecated = getattr(settings, "deprecated_names", None)
    reply["deprecated_settings"] = deprecated() if callable(deprecated) else []
    return reply


def _explicit(settings: Any) -> list[tuple[str, Any]]:
    """Celery's ``conf.table()``: what was set (even to a default) or differs from it."""
    explicit = getattr(settings, "explicit", None)
    if callable(explicit):
        return list(explicit().items())
    return [(k, v) for k, v in settings.items() if v is not None]


@handler("report")
async def report(node: ControlNode, **_: object) -> object:
    from celeriac import __version__

    lines = [
        f"software -> celeriac:{__version__} py:{platform.python_version()}",
        f"platform -> system:{platform.system()} arch:{platform.machine()}"
        f" kernel version:{platform.release()} imp:{platform.python_implementation()}",
        f"settings -> transport:{urlsplit(node.app.broker_url).scheme}"
        f" results:{node.app.result_backend_url.split('://')[0]}",
        "",
    ]
    changed = await conf(node)
    lines += [f"{key}: {value!r}" for key, value in changed.items()]
    return ok("\n" + "\n".join(lines) + "\n")


@handler("clock")
async def clock(node: ControlNode, **_: object) -> object:
    return {"clock": node.clock}


@handler("hello")
async def hello(
    node: ControlNode, from_node: str | None = None, revoked: object = None, **_: object
) -> object:
    if from_node == node.hostname:
        return None
    if isinstance(revoked, dict | list | tuple) and revoked:
        # the ids alone, stamped with our clock: another host's stamps do not compare
        node.revoked.add(str(task_id) for task_id in revoked)
    return {"revoked": node.revoked.ids(), "clock": node.clock}


@handler("enable_events")
async def enable_events(node: ControlNode, **_: object) -> object:
    if node.events is None:
        return nok("event dispatcher unavailable")
    if node.events.set_task_events(True):
        logger.info("Events of group {task} enabled by remote.")
        return ok("task events enabled")
    return ok("task events already enabled")


@handler("disable_events")
async def disable_events(node: ControlNode, **_: object) -> object:
    if node.events is None:
        return nok("event dispatcher unavailable")
    if node.events.set_task_events(False):
        logger.info("Events of group {task} disabled by remote.")
        return ok("task events disabled")
    return ok("task events already disabled")


@handler("heartbeat")
async def heartbeat(node: ControlNode, **_: object) -> object:
    if node.events is not None:
        await asyncio.to_thread(node.events.heartbeat)
    return None


@handler("rate_limit")
async def rate_limit(
    node: ControlNode, task_name: str | None = None, rate_limit: Any = None, **_: object
) -> object:
    if not task_name or task_name not in node.app.tasks:
        return nok("unknown task")
    try:
        result = node.set_rate_limit(task_name, rate_limit)
    except NotImplementedError as exc:
        return nok(str(exc))
    except ValueError as exc:
        return nok(f"Invalid rate limit string: {exc}")
    if isinstance(result, dict):
        return result
    if not rate_limit:
        return ok("rate limit disabled successfully")
    return ok("new rate limit set successfully")


@handler("time_limit")
async def time_limit(
    node: ControlNode,
    task_name: str | None = None,
    hard: float | None = None,
    soft: float | None = None,
    **_: object,
) -> object:
    if not task_name or task_name not in node.app.tasks:
        return nok("unknown task")
    task = node.app.tasks[task_name]
    task.time_limit = hard
    task.soft_time_limit = soft
    node.revoked.relay("time_limit", {"task_name": task_name, "hard": hard, "soft": soft})
    logger.info("New time limits for tasks of type %s: soft=%s hard=%s", task_name, soft, hard)
    return ok("time limits set successfully")


@handler("shutdown")
async def shutdown(node: ControlNode, msg: str = "Got shutdown from remote", **_: object) -> object:
    logger.warning("%s", msg)
    raise ShutdownRequested(msg)
