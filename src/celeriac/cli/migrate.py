"""``celeriac migrate SOURCE DESTINATION``: Celery's command (``celeriac.apps.migrate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from celeriac.cli.main import CLIContext

__all__ = ["migrate"]


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("-n", "--limit", type=int, help="Number of tasks to consume.")
@click.option(
    "-t", "--timeout", type=float, default=1.0, help="Timeout in seconds waiting for tasks."
)
@click.option("-a", "--ack-messages", is_flag=True, help="Ack messages from source broker.")
@click.option("-T", "--tasks", help="List of task names to filter on.")
@click.option("-Q", "--queues", help="List of queues to migrate (src:dest to rename).")
@click.option("-F", "--forever", is_flag=True, help="Continually migrate tasks until killed.")
@click.pass_obj
def migrate(
    obj: CLIContext, source: str, destination: str, limit: int | None, timeout: float,
    ack_messages: bool, tasks: str | None, queues: str | None, forever: bool,
) -> None:  # fmt: skip
    """Migrate tasks from one broker to another.

    Without -a the messages are copied (they stay on the source); with -a they move.
    """
    from celeriac.apps.migrate import State, migrate_tasks

    def on_migrate_task(state: State, body: Any, message: Any) -> None:
        name = message.message.headers.get("task") if message.message else "?"
        click.echo(f"Migrating task {state.count}/{state.strtotal}: {name}[{message.tag}]")

    state = migrate_tasks(
        source, destination, app=obj.app, limit=limit, timeout=timeout,
        ack_messages=ack_messages, tasks=tasks, queues=queues, forever=forever,
        callback=on_migrate_task,
    )  # fmt: skip
    click.echo(f"Migrated {state.count} task{'s' if state.count != 1 else ''}.")
