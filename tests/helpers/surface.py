"""Celery's public surface measured against celeriac's, side by side.

Each ``missing_*`` function walks one kind of surface of the installed ``celery`` 5.7
package and returns what celeriac lacks, as sorted strings: module paths, public names of
each module, members of the key classes, parameter names of the methods both have, CLI
commands and options, remote-control commands. ``tests/test_public_api.py`` compares the
counts with ``tests/data/public_api_baseline.json`` (they may only shrink); run this module
to print everything and the coverage (``python tests/helpers/surface.py [--update]``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

BASELINE = Path(__file__).resolve().parent.parent / "data" / "public_api_baseline.json"

#: Celery modules left out of the comparison, by prefix, with the reason (docs/compatibility.md).
OUT_OF_SCOPE: dict[str, str] = {
    "celery.bin": "the CLI is compared command by command and option by option instead",
    "celery.concurrency.asynpool": "billiard's pipes between parent and children (celeriac's "
    "prefork children consume on their own)",
    "celery.concurrency.eventlet": "green-thread pools (async def tasks run on asyncio)",
    "celery.concurrency.gevent": "green-thread pools (async def tasks run on asyncio)",
    "celery.worker.consumer.": "the bootsteps of Celery's consumer (celeriac has no bootsteps "
    "graph; celeriac.bootsteps runs a project's own steps)",
    "celery.worker.components": "bootsteps of Celery's worker",
    "celery.worker.loops": "Celery's event loops (celeriac runs on asyncio)",
    "celery.worker.strategy": "Celery's per-task message strategies",
    "celery.worker.pidbox": "Celery's pidbox consumer (celeriac.worker.control)",
    "celery.worker.heartbeat": "the events engineer's heartbeats",
    "celery.events.cursesmon": "the curses monitor (the dashboard replaces it)",
    "celery.contrib.sphinx": "a Sphinx extension for documenting Celery tasks",
    "celery.backends.arangodb": "result store not supported",
    "celery.backends.azureblockblob": "result store not supported",
    "celery.backends.cache": "result store not supported",
    "celery.backends.cassandra": "result store not supported",
    "celery.backends.consul": "result store not supported",
    "celery.backends.cosmosdbsql": "result store not supported",
    "celery.backends.couchbase": "result store not supported",
    "celery.backends.couchdb": "result store not supported",
    "celery.backends.dynamodb": "result store not supported",
    "celery.backends.elasticsearch": "result store not supported",
    "celery.backends.gcs": "result store not supported",
    "celery.backends.mongodb": "result store not supported",
    "celery.backends.s3": "result store not supported",
    "celery.backends.filesystem": "result store not supported",
    "celery.backends.database": "result store not supported yet (SQLAlchemy)",
    "celery.utils.annotations": "Celery's internal typing helpers",
    "celery.utils.collections": "Celery's internal containers",
    "celery.utils.quorum_queues": "RabbitMQ internals",
    "celery.utils.static": "Celery's static files",
    "celery.utils.threads": "Celery's thread-local helpers",
    "celery.utils.timer2": "Celery's timer thread (asyncio timers)",
    "celery.backends.asynchronous": "the result-consumer internals of Celery's AMQP/Redis "
    "backends (celeriac's backends wait for results themselves)",
}

#: Public names of in-scope Celery modules left out, by ``module:name`` (a ``module:`` entry
#: covers every name of that module), with the reason (docs/compatibility.md).
NAMES_OUT_OF_SCOPE: dict[str, str] = {
    "celery:_find_option_with_arg": "eventlet/gevent monkey-patching at start-up",
    "celery:_original_os_write": "eventlet/gevent monkey-patching at start-up",
    "celery:maybe_patch_concurrency": "eventlet/gevent monkey-patching at start-up",
    "celery:execute": "Celery 3's deprecated compatibility module",
    "celery:log": "Celery 3's deprecated compatibility module",
    "celery:messaging": "Celery 3's deprecated compatibility module",
    "celery:registry": "Celery 3's deprecated compatibility module",
    "celery.app:AppPickler": "Celery's internal pickling of app instances",
    "celery.app:enable_trace": "Celery's debugging switch tracing app creation",
    "celery.app:disable_trace": "Celery's debugging switch tracing app creation",
    "celery.app.amqp:task_message": "an internal record of Celery's message builder",
    "celery.app.trace:": "Celery's worker tracer internals (celeriac runs tasks through "
    "celeriac.app.trace.call_sync/call_async; task.apply() runs one traced in-process)",
    "celery.signals:eventlet_pool_apply": "eventlet pool",
    "celery.signals:eventlet_pool_postshutdown": "eventlet pool",
    "celery.signals:eventlet_pool_preshutdown": "eventlet pool",
    "celery.signals:eventlet_pool_started": "eventlet pool",
    "celery.utils.saferepr:reprstream": "the internal token stream behind saferepr",
    "celery.worker.consumer:": "the bootsteps of Celery's consumer (celeriac.bootsteps runs "
    "a project's own steps)",
    "celery.worker.autoscale:WorkerComponent": "a bootstep of Celery's worker",
    "celery.backends.rpc:BacklogLimitExceeded": "celeriac's rpc reader keeps replies by task "
    "id (bounded) instead of failing after a backlog of other replies",
    "celery.beat:BeatPidbox": "beat answering remote control (celeriac's beat does not)",
}

#: Key classes: Celery's path -> celeriac's path (same path with celery -> celeriac by default).
KEY_CLASSES: dict[str, str] = {
    "celery.app.base.Celery": "celeriac.Celery",
    "celery.app.task.Task": "celeriac.Task",
    "celery.app.task.Context": "celeriac.app.task.Context",
    "celery.result.AsyncResult": "celeriac.result.AsyncResult",
    "celery.result.EagerResult": "celeriac.result.EagerResult",
    "celery.result.GroupResult": "celeriac.result.GroupResult",
    "celery.result.ResultSet": "celeriac.result.ResultSet",
    "celery.canvas.Signature": "celeriac.canvas.Signature",
    "celery.canvas._chain": "celeriac.canvas.chain",
    "celery.canvas.group": "celeriac.canvas.group",
    "celery.canvas.chord": "celeriac.canvas.chord",
    "celery.canvas.chunks": "celeriac.canvas.chunks",
    "celery.canvas.xmap": "celeriac.canvas.xmap",
    "celery.canvas.xstarmap": "celeriac.canvas.xstarmap",
    "celery.schedules.schedule": "celeriac.schedules.schedule",
    "celery.schedules.crontab": "celeriac.schedules.crontab",
    "celery.schedules.solar": "celeriac.schedules.solar",
    "celery.app.control.Control": "celeriac.app.control.Control",
    "celery.app.control.Inspect": "celeriac.app.control.Inspect",
    "celery.beat.Scheduler": "celeriac.beat.Scheduler",
    "celery.beat.ScheduleEntry": "celeriac.beat.ScheduleEntry",
    "celery.beat.PersistentScheduler": "celeriac.beat.PersistentScheduler",
}

#: Commands third-party packages add to ``celery`` when installed (not Celery's own).
PLUGIN_COMMANDS = {"flower"}

#: ``celery multi``'s sub-commands (its own argument parser, not click groups).
MULTI_COMMANDS = ("start", "stop", "stopwait", "restart", "kill", "names", "show", "get", "expand")


def ours(path: str) -> str:
    """Celery's dotted path with the package renamed."""
    return "celeriac" + path[len("celery") :]


def _import(name: str) -> ModuleType | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:
        return None


def _resolve(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    mod = _import(module)
    return getattr(mod, attr, None) if mod is not None else None


def out_of_scope(module: str) -> bool:
    """Whether a Celery module is left out (:data:`OUT_OF_SCOPE`)."""
    return any(module == p or module.startswith(p.rstrip(".") + ".") for p in OUT_OF_SCOPE)


def celery_modules() -> list[str]:
    """Celery's user-facing module paths (every module but those :data:`OUT_OF_SCOPE`)."""
    import celery

    names = ["celery"] + [m.name for m in pkgutil.walk_packages(celery.__path__, "celery.")]
    return sorted(n for n in names if not out_of_scope(n) and n != "celery.__main__")


def name_out_of_scope(module: str, name: str) -> bool:
    """Whether a public name is left out (:data:`NAMES_OUT_OF_SCOPE`)."""
    return f"{module}:{name}" in NAMES_OUT_OF_SCOPE or f"{module}:" in NAMES_OUT_OF_SCOPE


def public_names(module: ModuleType) -> set[str]:
    """A module's ``__all__``, else the classes and functions it defines."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return {n for n in exported if not n.startswith("__")}
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module.__name__
    }


def missing_modules() -> list[str]:
    """Celery's module paths that do not import as ``celeriac.<same path>``."""
    return [m for m in celery_modules() if _import(ours(m)) is None]


def missing_names() -> list[str]:
    """``module:name`` for each public name of a Celery module that celeriac's lacks."""
    missing = []
    for module in celery_modules():
        theirs = _import(module)
        if theirs is None:
            continue
        mine = _import(ours(module))
        for name in sorted(public_names(theirs)):
            if name_out_of_scope(module, name):
                continue
            if mine is None or not hasattr(mine, name):
                missing.append(f"{module}:{name}")
    return missing


def _init_attributes(cls: type) -> set[str]:
    found: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("celeriac"):
            found |= set(getattr(klass, "__annotations__", {}))
            found |= set(getattr(klass, "__slots__", ()))
            try:
                found |= set(re.findall(r"self\.([a-z]\w*)\s*[:=]", inspect.getsource(klass)))
            except (OSError, TypeError):
                pass
    return found


def _members(cls: type) -> set[str]:
    """Public names of ``cls``. Celery's ``Task`` also counts the attributes binding it to
    an app sets from the settings (``from_config``): whether they show up in ``dir()``
    depends on whether this process bound a Celery task before, which made the count
    differ between test orders."""
    names = {name for name in dir(cls) if not name.startswith("_")}
    if cls.__module__.startswith("celery."):
        names |= {attr for attr, _ in getattr(cls, "from_config", ())}
    return names


def missing_members() -> list[str]:
    """``Class.member`` for each public method or attribute of a key class celeriac lacks."""
    missing = []
    for theirs_path, ours_path in KEY_CLASSES.items():
        theirs = _resolve(theirs_path)
        mine = _resolve(ours_path)
        have = (_members(mine) | _init_attributes(mine)) if isinstance(mine, type) else set()
        name = theirs_path.rsplit(".", 1)[1]
        missing += [f"{name}.{m}" for m in sorted(_members(theirs) - have)]
    return missing


def _accepted(func: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def missing_parameters() -> list[str]:
    """``Class.method(param)`` for each parameter of a shared method celeriac does not take."""
    missing = []
    for theirs_path, ours_path in KEY_CLASSES.items():
        theirs, mine = _resolve(theirs_path), _resolve(ours_path)
        if not isinstance(mine, type):
            continue
        for name in sorted(_members(theirs) & _members(mine)):
            their_func, my_func = getattr(theirs, name, None), getattr(mine, name, None)
            if not (inspect.isroutine(their_func) and inspect.isroutine(my_func)):
                continue
            wanted, _ = _accepted(their_func)
            have, var_kw = _accepted(my_func)
            if var_kw:
                continue
            cls = theirs_path.rsplit(".", 1)[1]
            missing += [f"{cls}.{name}({p})" for p in sorted(wanted - have - {"self", "cls"})]
    return missing


def _commands(group: Any) -> dict[str, Any]:
    return dict(getattr(group, "commands", {}))


def _options(command: Any) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt[:1] == "-"}


def _our_cli() -> Any:
    from celeriac.cli.main import celeriac

    return celeriac


def missing_cli_commands() -> list[str]:
    """Celery's commands and sub-commands celeriac's CLI lacks (``list bindings``, ``multi``…)."""
    from celery.bin.celery import celery

    mine = _commands(_our_cli())
    missing = []
    for name, command in sorted(_commands(celery).items()):
        if name in PLUGIN_COMMANDS:
            continue
        if name not in mine:
            missing.append(name)
        subs = set(_commands(command))
        if name == "multi":
            subs = set(MULTI_COMMANDS)
        have = set(_commands(mine.get(name)))
        if name == "multi" and name in mine:
            have = set(getattr(mine[name], "subcommands", ()))
        missing += [f"{name} {sub}" for sub in sorted(subs - have)]
    return missing


def missing_cli_options() -> list[str]:
    """``command --option`` for each of Celery's options (and global ones) celeriac lacks."""
    from celery.bin.celery import celery

    mine_group = _our_cli()
    missing = [f"celery {o}" for o in sorted(_options(celery) - _options(mine_group))]
    mine = _commands(mine_group)
    for name, command in sorted(_commands(celery).items()):
        if name in PLUGIN_COMMANDS:
            continue
        have = _options(mine[name]) if name in mine else set()
        missing += [f"{name} {o}" for o in sorted(_options(command) - have)]
    return missing


def missing_control_commands() -> list[str]:
    """Celery's remote-control commands (``Panel.data``) celeriac's workers do not answer."""
    from celery.worker.control import Panel

    from celeriac.worker.control_commands import handlers

    return sorted(set(Panel.data) - set(handlers))


def _total(kind: str) -> int:
    if kind == "modules":
        return len(celery_modules())
    if kind == "names":
        mods = ((m, _import(m)) for m in celery_modules())
        return sum(
            sum(1 for n in public_names(mod) if not name_out_of_scope(m, n))
            for m, mod in mods
            if mod is not None
        )
    if kind == "members":
        return sum(len(_members(_resolve(p))) for p in KEY_CLASSES)
    if kind == "control_commands":
        from celery.worker.control import Panel

        return len(Panel.data)
    from celery.bin.celery import celery

    commands = {k: v for k, v in _commands(celery).items() if k not in PLUGIN_COMMANDS}
    if kind == "cli_commands":
        subs = sum(len(_commands(c)) for c in commands.values()) + len(MULTI_COMMANDS)
        return len(commands) + subs
    if kind == "cli_options":
        return len(_options(celery)) + sum(len(_options(c)) for c in commands.values())
    raise KeyError(kind)


#: Each kind of surface and the function listing what celeriac lacks of it.
KINDS: dict[str, Callable[[], list[str]]] = {
    "modules": missing_modules,
    "names": missing_names,
    "members": missing_members,
    "parameters": missing_parameters,
    "cli_commands": missing_cli_commands,
    "cli_options": missing_cli_options,
    "control_commands": missing_control_commands,
}


def coverage(kind: str, missing: Iterable[str]) -> str:
    """``have/total (pct %)`` for one kind (parameters have no total: just the count)."""
    count = len(list(missing))
    if kind == "parameters":
        return f"{count} parameter names missing"
    total = _total(kind)
    have = total - count
    return f"{have}/{total} ({100 * have / total:.1f} %)"


def main(argv: list[str]) -> None:
    """Print every gap and the coverage; ``--update`` rewrites the baseline."""
    counts = {}
    for kind, find in KINDS.items():
        missing = find()
        counts[kind] = len(missing)
        print(f"## {kind}: {coverage(kind, missing)}")
        for item in missing:
            print(f"  {item}")
    if "--update" in argv:
        BASELINE.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
        print(f"baseline written to {BASELINE}")


if __name__ == "__main__":
    main(sys.argv[1:])
