"""``celeriac call``, ``result``, ``purge`` and ``report``: small commands around the app."""

from __future__ import annotations

import json
from typing import Any

import click

from celeriac.cli.main import CLIContext
from celeriac.config.queues import declared_queues

__all__ = ["call", "purge", "report", "result"]


def _json_arg(value: str | None, name: str, kind: type) -> Any:
    if not value:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=name) from None
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"expected a JSON {kind.__name__}", param_hint=name)
    return parsed


@click.command()
@click.argument("name")
@click.option("-a", "--args", help="Positional arguments as a JSON list.")
@click.option("-k", "--kwargs", help="Keyword arguments as a JSON object.")
@click.option("--eta", help="ISO 8601 time to run at.")
@click.option("--countdown", type=float, help="Seconds to wait before running.")
@click.option("--expires", help="Seconds or ISO time after which the task is not run.")
@click.option("--serializer", default="json", show_default=True)
@click.option("--queue", help="Queue to send to.")
@click.option("--exchange", help="Exchange to send to.")
@click.option("--routing-key", help="Routing key.")
@click.pass_obj
def call(
    obj: CLIContext,
    name: str,
    args: str | None,
    kwargs: str | None,
    eta: str | None,
    countdown: float | None,
    expires: str | None,
    serializer: str,
    queue: str | None,
    exchange: str | None,
    routing_key: str | None,
) -> None:
    """Send a task by name and print its id."""
    expires_value: Any = None
    if expires:
        try:
            expires_value = float(expires)
        except ValueError:
            expires_value = expires
    sent = obj.app.send_task(
        name,
        _json_arg(args, "--args", list),
        _json_arg(kwargs, "--kwargs", dict),
        eta=eta,
        countdown=countdown,
        expires=expires_value,
        serializer=serializer,
        queue=queue,
        exchange=exchange,
        routing_key=routing_key,
    )
    click.echo(sent.id)


@click.command()
@click.argument("task_id")
@click.option("-t", "--task", help="The task's name (for custom result types).")
@click.option("--traceback", is_flag=True, help="Show the traceback instead of the value.")
@click.pass_obj
def result(obj: CLIContext, task_id: str, task: str | None, traceback: bool) -> None:
    """Print a task's result (PENDING when unknown)."""
    res = obj.app.AsyncResult(task_id, task_name=task)
    value = res.traceback if traceback else res.result
    state = res.state
    if state == "PENDING":
        click.echo("PENDING")
        return
    click.echo(value if traceback else repr(value))


@click.command()
@click.option("-f", "--force", is_flag=True, help="Don't ask for confirmation.")
@click.option("-Q", "--queues", help="Comma-separated queues to purge (default: all known).")
@click.option("-X", "--exclude-queues", help="Comma-separated queues not to purge.")
@click.pass_obj
def purge(obj: CLIContext, force: bool, queues: str | None, exclude_queues: str | None) -> None:
    """Delete every waiting message from the queues."""
    app = obj.app
    names = [q.strip() for q in (queues or "").split(",") if q.strip()]
    if not names:
        names = declared_queues(app.conf)
    excluded = {q.strip() for q in (exclude_queues or "").split(",") if q.strip()}
    names = [name for name in names if name not in excluded]
    if not force:
        click.confirm(
            f"WARNING: This will remove all tasks from queue(s): {', '.join(names)}."
            "\n         There is no undo for this operation!\n\nProceed?",
            abort=True,
        )
    total = sum(app.transport.purge(name) for name in names)
    if total:
        click.echo(
            f"Purged {total} message{'s' if total != 1 else ''} from "
            f"{len(names)} known task queue{'s' if len(names) != 1 else ''}."
        )
    else:
        click.echo(f"No messages purged from {len(names)} queue{'s' if len(names) != 1 else ''}.")


@click.command()
@click.pass_obj
def report(obj: CLIContext) -> None:
    """Print versions and the configuration, for bug reports."""
    click.echo(obj.app.bugreport())
