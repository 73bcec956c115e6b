"""Custom and pool remote-control commands, with Celery's decorators (``celery.worker.control``).

``@control_command`` / ``@inspect_command`` register a project's own command: the function
gets a ``state`` (``state.app``, ``state.hostname``, ``state.consumer``) and the request's
arguments, and its return value is the reply, as in Celery. The commands here also
resize the pool (``pool_grow``, ``pool_shrink``, ``autoscale``: prefork) and change the
consumed queues at run time (``add_consumer``, ``cancel_consumer``: in-process pools).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celeriac.worker.control_commands import handlers, nok, ok
from celeriac.worker.control_nodes import ControlNode

logger = logging.getLogger("celery.worker.control")

__all__ = [
    "Panel",
    "State",
    "add_consumer",
    "cancel_consumer",
    "control_command",
    "inspect_command",
    "pool_restart",
    "reload_modules",
]


@dataclass
class State:
    """What a command function gets as ``state`` (Celery passes its pidbox state)."""

    node: Any

    @property
    def app(self) -> Any:
        """The worker's app."""
        return self.node.app

    @property
    def hostname(self) -> str:
        """The node name."""
        return str(self.node.hostname)

    @property
    def consumer(self) -> Any:
        """The consumer (in-process pools), or the node itself under prefork."""
        return getattr(self.node, "consumer", self.node)


class Panel:
    """The registry of remote-control commands (Celery's ``Panel``)."""

    #: name -> handler (the same table the mailbox dispatches on)
    data = handlers
    #: name -> the command's description (type, visible, signature, help …)
    meta: dict[str, dict[str, Any]] = {}

    @classmethod
    def register(cls, *args: Any, **kwargs: Any) -> Any:
        """Register a command: ``Panel.register(fun, name=None, type='control', ...)``."""
        if args and callable(args[0]):
            return cls._register(**kwargs)(args[0])
        return cls._register(**kwargs)

    @classmethod
    def _register(
        cls,
        name: str | None = None,
        type: str = "control",
        visible: bool = True,
        args: Any = None,
        signature: str | None = None,
        alias: str | None = None,
        **extra: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fun: Callable[..., Any]) -> Callable[..., Any]:
            command = name or fun.__name__

            async def handler(node: ControlNode, **arguments: Any) -> Any:
                result = fun(State(node), **arguments)
                if inspect.isawaitable(result):
                    result = await result
                return result

            handlers[command] = handler
            if alias:
                handlers[alias] = handler
            cls.meta[command] = {
                "type": type, "visible": visible, "args": args, "signature": signature,
                "help": (fun.__doc__ or "").strip().split("\n")[0], **extra,
            }  # fmt: skip
            return fun

        return register


def control_command(**kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a ``control`` command (``celeriac control <name>``)."""
    return Panel._register(type="control", **kwargs)


def inspect_command(**kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as an ``inspect`` command (``celeriac inspect <name>``)."""
    return Panel._register(type="inspect", **kwargs)


def _consumer_queues(state: State) -> list[str] | None:
    config = getattr(getattr(state.node, "consumer", None), "config", None)
    return getattr(config, "queues", None)


def add_consumer(state: State, queue: str, *args: Any, **kwargs: object) -> dict[str, Any]:
    """Start consuming ``queue`` (in-process pools: the next fetch reads it)."""
    queues = _consumer_queues(state)
    if queues is None:
        return nok("add_consumer needs an in-process pool (-P threads/solo)")
    if queue not in queues:
        queues.append(queue)
        state.node.queues = list(queues)
        return ok(f"add consumer {queue}")
    return ok(f"already consuming from {queue!r}")


def cancel_consumer(state: State, queue: str, **_: object) -> dict[str, Any]:
    """Stop consuming ``queue``."""
    queues = _consumer_queues(state)
    if queues is None:
        return nok("cancel_consumer needs an in-process pool (-P threads/solo)")
    if queue in queues and len(queues) > 1:
        queues.remove(queue)
        state.node.queues = list(queues)
    return ok(f"no longer consuming from {queue}")


Panel._register(name="add_consumer", args=[("queue", str)])(add_consumer)
Panel._register(name="cancel_consumer", args=[("queue", str)])(cancel_consumer)


def _pool(state: State) -> Any:
    return getattr(state.node, "pool", None)


@control_command(args=[("n", int)], signature="[N=1]")
def pool_grow(state: State, n: int = 1, **_: object) -> dict[str, Any]:
    """Add ``n`` processes to a prefork pool."""
    pool = _pool(state)
    if not hasattr(pool, "request_resize"):
        return nok("pool_grow needs the prefork pool")
    scaler = getattr(state.node, "autoscaler", None)
    if scaler is not None:
        scaler.force_scale_up(int(n))
    else:
        pool.request_resize(int(n))
    return ok("pool will grow")


@control_command(args=[("n", int)], signature="[N=1]")
def pool_shrink(state: State, n: int = 1, **_: object) -> dict[str, Any]:
    """Retire ``n`` idle processes of a prefork pool."""
    pool = _pool(state)
    if not hasattr(pool, "request_resize"):
        return nok("pool_shrink needs the prefork pool")
    scaler = getattr(state.node, "autoscaler", None)
    if scaler is not None:
        scaler.force_scale_down(int(n))
    else:
        pool.request_resize(-int(n))
    return ok("pool will shrink")


@control_command(args=[("max", int), ("min", int)], signature="[max [min]]")
def autoscale(state: State, max: int | None = None, min: int | None = None, **_: object) -> Any:
    """Change the autoscaler's bounds."""
    scaler = getattr(state.node, "autoscaler", None)
    if scaler is None:
        return nok("Autoscale not enabled")
    high, low = scaler.update(max, min)
    return ok(f"autoscale now max={high} min={low}")


def _task_modules(app: Any) -> set[str]:
    """The modules defining the app's tasks (Celery's ``app.loader.task_modules``)."""
    modules = {getattr(task, "__module__", "") for task in dict(app.tasks).values()}
    return {m for m in modules if m and not m.startswith(("celeriac.", "celery."))}


def reload_modules(
    app: Any, modules: list[str] | None = None, reload: bool = False, reloader: Any = None
) -> list[str]:
    """Import ``modules`` not imported yet, and reload the others when ``reload`` (the
    task modules when ``modules`` is None), as Celery's ``WorkController.reload``.
    ``reloader`` is a callable taking the module (``importlib.reload`` by default)."""
    reload_module = reloader if callable(reloader) else importlib.reload
    done = []
    for name in sorted(_task_modules(app) if modules is None else set(modules or ())):
        if name not in sys.modules:
            importlib.import_module(name)
        elif reload:
            reload_module(sys.modules[name])
        else:
            continue
        done.append(name)
    return done


@control_command(
    args=[("modules", list), ("reload", bool), ("reloader", str)],
    signature="[MODULE [MODULE ...]] [reload=False] [reloader=None]",
)
def pool_restart(
    state: State,
    modules: list[str] | None = None,
    reload: bool = False,
    reloader: Any = None,
    **_: object,
) -> dict[str, Any]:
    """Import or reload modules, then replace the prefork children (Celery's
    ``pool_restart``; needs ``worker_pool_restarts``). The children finish their tasks
    first; in-process pools only import/reload, as Celery's thread and solo pools."""
    if not state.app.conf.worker_pool_restarts:
        return nok("Pool restarts not enabled")
    names = reload_modules(state.app, modules, bool(reload), reloader)
    logger.info("pool_restart: modules %s", ", ".join(names) or "(none)")
    pool = _pool(state)
    if hasattr(pool, "request_restart"):
        pool.request_restart()
    return ok("reload started")


@inspect_command()
def memsample(state: State, **_: object) -> str:
    """This process's resident memory now (the parent's under prefork)."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{kib / 1024:.2f}MB (peak resident)"


@inspect_command(args=[("samples", int)], signature="[n_samples=10]")
def memdump(state: State, samples: int = 10, **_: object) -> str:
    """Memory use of this process (peak resident size; celeriac keeps no sample history)."""
    return str(memsample(state))


@inspect_command(
    args=[("type", str), ("num", int), ("max_depth", int)],
    signature="[object_type=Request] [num=200 [max_depth=10]]",
)
def objgraph(
    state: State, num: int = 200, max_depth: int = 10, type: str = "Request", **_: object
) -> Any:
    """Count live objects of a type (``gc``); Celery draws a graph with ``objgraph``."""
    import builtins
    import gc

    # builtins.type, not obj.__class__: a lazy proxy (Django's settings) resolves that
    count = sum(1 for obj in gc.get_objects() if builtins.type(obj).__name__ == type)
    return {"type": type, "count": count}


@control_command(args=[("id", str), ("topic", str), ("action", str)], visible=False)
def election(state: State, id: str, topic: str, action: str | None = None, **_: object) -> None:
    """Part of Celery's leader election (no celeriac feature uses it): acknowledged."""
    return None


@control_command(args=[("headers", dict), ("terminate", bool), ("signal", str)])
async def revoke_by_stamped_headers(
    state: State, headers: Any, terminate: bool = False, signal: str | None = None,
    **_: Any,
) -> Any:  # fmt: skip
    """Revoke tasks whose stamps match ``headers``: those that arrive later (the headers are
    kept, as Celery's ``worker_state.revoked_stamps``) and the reserved ones here; with
    ``terminate`` the running ones are terminated too. Replies with Celery's texts."""
    if isinstance(headers, list):  # ["header=value", ...], as Celery accepts
        headers = dict(str(item).split("=", 1) for item in headers)
    state.node.revoked.add_stamps(dict(headers))
    matched: dict[str, set[Any]] = {}
    ids: list[str] = []
    for task in list(state.node.active()) + list(state.node.reserved()):
        stamps = task.get("stamps") or {}
        for key, value in headers.items():
            if key in stamps and _stamp_matches(stamps.get(key), value):
                ids.append(task["id"])
                matched.setdefault(key, set()).update(_listed(stamps[key]))
    if ids:
        await handlers["revoke"](state.node, task_id=ids, terminate=terminate, signal=signal)
    if not terminate:
        return ok(f"headers {headers} flagged as revoked, but not terminated")
    if not matched:
        return ok(f"headers {headers} were not terminated")
    return ok(f"headers {matched} revoked")


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _stamp_matches(stamped: Any, value: Any) -> bool:
    wanted = _listed(value)
    return any(item in wanted for item in _listed(stamped)) or stamped == value


#: Celery's old names of the inspect commands.
for _old, _new in (("dump_active", "active"), ("dump_conf", "conf"), ("dump_reserved", "reserved"),
                   ("dump_revoked", "revoked"), ("dump_schedule", "scheduled"),
                   ("dump_tasks", "registered")):  # fmt: skip
    if _new in handlers:
        handlers.setdefault(_old, handlers[_new])
