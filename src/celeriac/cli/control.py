"""``celeriac inspect``, ``control`` and ``status``: remote control from the shell.

Flags and output follow Celery's: ``-d/--destination`` (comma separated node names),
``-t/--timeout`` (seconds to wait for the next reply, default 1.0), ``-j/--json`` (print
the merged replies as one JSON object); without replies the command fails with
"No nodes replied within time constraint" (exit code 69, as Celery).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # not at run time: cli.main imports this module to register it
    from celeriac.cli.main import CLIContext

__all__ = ["control", "inspect", "status"]

#: Celery's exit code when no node replied (``EX_UNAVAILABLE``).
EX_UNAVAILABLE = 69

INSPECT_METHODS = (
    "active",
    "active_queues",
    "clock",
    "conf",
    "ping",
    "query_task",
    "registered",
    "report",
    "reserved",
    "revoked",
    "scheduled",
    "stats",
)
CONTROL_METHODS = (
    "add_consumer",
    "autoscale",
    "cancel_consumer",
    "disable_events",
    "enable_events",
    "heartbeat",
    "pool_grow",
    "pool_shrink",
    "rate_limit",
    "revoke",
    "shutdown",
    "terminate",
    "time_limit",
)


def _destination(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _print_replies(replies: list[dict[str, Any]], as_json: bool, quiet: bool) -> None:
    merged: dict[str, Any] = {}
    for reply in replies:
        merged.update(reply)
    if as_json:
        click.echo(json.dumps(merged))
        return
    for node, value in merged.items():
        failed = isinstance(value, dict) and "error" in value
        click.echo(f"->  {node}: {'ERROR' if failed else 'OK'}")
        if quiet:
            continue
        if isinstance(value, dict) and len(value) == 1 and ("ok" in value or "error" in value):
            text = str(next(iter(value.values())))
        elif isinstance(value, list):
            text = "\n".join(f"* {item}" for item in value) if value else "- empty -"
        else:
            text = json.dumps(value, indent=4, sort_keys=True, default=repr)
        for line in text.splitlines():
            click.echo(f"        {line}")
    count = len(merged)
    click.echo(f"\n{count} {'node' if count == 1 else 'nodes'} online.")


def _no_replies() -> None:
    click.echo("Error: No nodes replied within time constraint", err=True)
    sys.exit(EX_UNAVAILABLE)


def _arguments(method: str, args: tuple[str, ...]) -> dict[str, Any]:
    """Celery's positional arguments for each control command."""
    values = list(args)
    if method == "revoke":
        if not values:
            raise click.UsageError("revoke needs at least one task id")
        return {"task_id": values, "terminate": False, "signal": "SIGTERM"}
    if method == "terminate":
        if len(values) < 2:
            raise click.UsageError("terminate needs a signal and at least one task id")
        return {"signal": values[0], "task_id": values[1:], "terminate": True}
    if method == "rate_limit":
        if len(values) != 2:
            raise click.UsageError("rate_limit needs a task name and a rate (e.g. 10/m)")
        return {"task_name": values[0], "rate_limit": values[1]}
    if method == "time_limit":
        if len(values) not in (2, 3):
            raise click.UsageError("time_limit needs a task name, a soft and a hard limit")
        soft = float(values[1])
        hard = float(values[2]) if len(values) == 3 else None
        return {"task_name": values[0], "soft": soft, "hard": hard}
    if method in _POSITIONAL:
        return _positional(method, values)
    if values:
        raise click.UsageError(f"{method} takes no arguments")
    return {}


#: Celery's positional arguments: (name, converter, required) per command.
_POSITIONAL: dict[str, list[tuple[str, Any, bool]]] = {
    "add_consumer": [
        ("queue", str, True),
        ("exchange", str, False),
        ("exchange_type", str, False),
        ("routing_key", str, False),
    ],
    "cancel_consumer": [("queue", str, True)],
    "pool_grow": [("n", int, False)],
    "pool_shrink": [("n", int, False)],
    "autoscale": [("max", int, True), ("min", int, True)],
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "add_consumer": {"exchange": None, "exchange_type": "direct", "routing_key": None},
    "pool_grow": {"n": 1},
    "pool_shrink": {"n": 1},
}


def _positional(method: str, values: list[str]) -> dict[str, Any]:
    spec = _POSITIONAL[method]
    if len(values) > len(spec) or len(values) < sum(1 for *_, required in spec if required):
        names = " ".join(name if required else f"[{name}]" for name, _, required in spec)
        raise click.UsageError(f"usage: control {method} {names}")
    arguments = dict(_DEFAULTS.get(method, {}))
    for (name, convert, _), value in zip(spec, values, strict=False):
        try:
            arguments[name] = convert(value)
        except ValueError:
            raise click.UsageError(f"{method}: {name} must be a {convert.__name__}") from None
    return arguments


def _common(func: Any) -> Any:
    func = click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON.")(func)
    func = click.option(
        "-t", "--timeout", type=float, default=1.0, show_default=True, help="Seconds to wait."
    )(func)
    func = click.option(
        "-d", "--destination", help="Comma separated list of destination node names."
    )(func)
    return func


def _custom(kind: str) -> dict[str, dict[str, Any]]:
    """Commands the project registered with ``@control_command``/``@inspect_command``."""
    from celeriac.worker.panel import Panel

    return {name: meta for name, meta in Panel.meta.items() if meta.get("type") == kind}


def _method(kind: str, method: str | None, builtin: tuple[str, ...], show: bool) -> str | None:
    """Print the commands with ``--list``; else check ``method`` is one."""
    custom = _custom(kind)
    if show:
        for name in sorted({*builtin, *(n for n, m in custom.items() if m.get("visible", True))}):
            meta = custom.get(name, {})
            click.echo(f"{name} {meta.get('signature') or ''}".rstrip())
        return None
    if not method:
        raise click.UsageError("Missing argument 'METHOD' (see --list)")
    if method not in builtin and method not in custom:
        raise click.UsageError(f"unknown {kind} command {method!r} (see --list)")
    return method


def _custom_arguments(kind: str, method: str, args: tuple[str, ...]) -> dict[str, Any]:
    spec = _custom(kind).get(method, {}).get("args") or []
    values: dict[str, Any] = {}
    for (name, cast), value in zip(spec, args, strict=False):
        values[name] = cast(value) if callable(cast) else value
    return values


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("method", required=False)
@click.argument("args", nargs=-1)
@click.option("--list", "show_list", is_flag=True, help="List the available commands.")
@_common
@click.pass_obj
def inspect(
    obj: CLIContext,
    method: str | None,
    args: tuple[str, ...],
    show_list: bool,
    destination: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Inspect the workers (ping, active, reserved, scheduled, revoked, stats …)."""
    app = obj.app
    method = _method("inspect", method, INSPECT_METHODS, show_list)
    if method is None:
        return
    arguments: dict[str, Any] = {}
    if method not in INSPECT_METHODS:
        arguments = _custom_arguments("inspect", method, args)
    elif method == "query_task":
        arguments = {"ids": list(args)}
    elif method == "registered":
        arguments = {"taskinfoitems": list(args)}
    elif method == "active":
        arguments = {"safe": None}
    elif args:
        raise click.UsageError(f"{method} takes no arguments")
    replies = app.control.broadcast(
        method,
        arguments=arguments,
        destination=_destination(destination),
        reply=True,
        timeout=timeout,
    )
    if not replies:
        _no_replies()
    _print_replies(replies or [], as_json, obj.quiet)


@click.command()
@click.argument("method", required=False)
@click.argument("args", nargs=-1)
@click.option("--list", "show_list", is_flag=True, help="List the available commands.")
@_common
@click.pass_obj
def control(
    obj: CLIContext,
    method: str | None,
    args: tuple[str, ...],
    show_list: bool,
    destination: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Send a control command to the workers (revoke, terminate, rate_limit …)."""
    app = obj.app
    method = _method("control", method, CONTROL_METHODS, show_list)
    if method is None:
        return
    builtin = method in CONTROL_METHODS
    replies = app.control.broadcast(
        method,
        arguments=_arguments(method, args)
        if builtin
        else _custom_arguments("control", method, args),
        destination=_destination(destination),
        reply=True,
        timeout=timeout,
    )
    if method == "shutdown":
        return  # workers never answer shutdown
    if not replies:
        _no_replies()
    _print_replies(replies or [], as_json, obj.quiet)


@click.command()
@_common
@click.pass_obj
def status(obj: CLIContext, destination: str | None, timeout: float, as_json: bool) -> None:
    """Show the workers that answer a ping."""
    replies = obj.app.control.ping(destination=_destination(destination), timeout=timeout)
    if not replies:
        _no_replies()
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    if as_json:
        click.echo(json.dumps(merged))
        return
    for node, value in merged.items():
        ok = isinstance(value, dict) and value.get("ok") == "pong"
        click.echo(f"->  {node}: {'OK' if ok else 'ERROR'}")
    count = len(merged)
    click.echo(f"\n{count} {'node' if count == 1 else 'nodes'} online.")
