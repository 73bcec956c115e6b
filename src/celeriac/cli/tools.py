"""``celeriac shell``, ``list bindings``, ``upgrade settings`` and ``logtool``: Celery's helpers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from celeriac.cli.main import CLIContext
from celeriac.config.queues import declared_queues
from celeriac.config.settings_table import OLD_NAMES

__all__ = ["list_", "logtool", "shell", "upgrade"]


@click.command()
@click.option("-I", "--ipython", is_flag=True, help="Use IPython.")
@click.option("-B", "--bpython", is_flag=True, help="Use bpython.")
@click.option("--python", is_flag=True, help="Use the plain Python shell.")
@click.option("-T", "--without-tasks", is_flag=True, help="Don't put the tasks in the namespace.")
@click.option("--eventlet", is_flag=True, hidden=True)
@click.option("--gevent", is_flag=True, hidden=True)
@click.pass_obj
def shell(
    obj: CLIContext, ipython: bool, bpython: bool, python: bool, without_tasks: bool,
    eventlet: bool, gevent: bool,
) -> None:  # fmt: skip
    """An interactive shell with the app, its tasks and the canvas names loaded."""
    import celeriac

    app = obj.app
    app.finalize()
    namespace: dict[str, Any] = {
        "app": app, "celery": app, "Task": celeriac.Task, "chord": celeriac.chord,
        "group": celeriac.group, "chain": celeriac.chain, "chunks": celeriac.chunks,
        "xmap": celeriac.xmap, "xstarmap": celeriac.xstarmap, "subtask": celeriac.signature,
        "signature": celeriac.signature,
    }  # fmt: skip
    if not without_tasks:
        for name, task in app.tasks.regular().items():
            namespace[name.rsplit(".", 1)[-1]] = task
    if not python:
        try:
            from IPython import start_ipython  # type: ignore[import-not-found]
        except ImportError:
            if ipython:
                raise click.ClickException("IPython is not installed") from None
        else:
            start_ipython(argv=[], user_ns=namespace)
            return
    import code

    code.interact(banner=f"celeriac shell: {', '.join(sorted(namespace))}", local=namespace)


@click.group(name="list")
def list_() -> None:
    """List broker objects (``list bindings``)."""


@list_.command()
@click.pass_obj
def bindings(obj: CLIContext) -> None:
    """The queue, exchange and routing key of every declared queue."""
    app = obj.app
    rows = [(queue, queue, queue) for queue in declared_queues(app.conf)]
    click.echo(f"{'Queue':<28} {'Exchange':<28} {'Routing Key':<28}")
    for queue, exchange, key in rows:
        click.echo(f"{queue:<28} {exchange:<28} {key:<28}")


@click.group()
def upgrade() -> None:
    """Upgrade old configuration to the current names (``upgrade settings``)."""


@upgrade.command()
@click.argument("filename", type=click.Path(exists=True, dir_okay=False))
@click.option("--django", is_flag=True, help="Keep the CELERY_ prefix (Django settings).")
@click.option(
    "--compat", is_flag=True, help="Upgrade to CELERY_-prefixed names (as with --django)."
)
@click.option("--no-backup", is_flag=True, help="Don't keep the original as FILENAME.orig.")
def settings(filename: str, django: bool, compat: bool, no_backup: bool) -> None:
    """Rewrite Celery 3 setting names (``CELERY_TASK_SERIALIZER``) to the lowercase ones.

    Line endings and the encoding (UTF-8) are kept byte for byte; the original is kept as
    ``FILENAME.orig`` only when something changed, as Celery does.
    """
    path = Path(filename)
    with path.open(encoding="utf-8", newline="") as source:
        text = source.read()
    prefixed = django or compat
    changed = 0

    def rename(match: re.Match[str]) -> str:
        nonlocal changed
        new = OLD_NAMES.get(match.group(1))
        if new is None:
            return match.group(0)
        changed += 1
        return (f"CELERY_{new.upper()}" if prefixed else new) + match.group(2)

    click.echo(f"processing {filename}...", err=True)
    upgraded = re.sub(r"^([A-Z][A-Z0-9_]*)(\s*=)", rename, text, flags=re.MULTILINE)
    if not changed:
        click.echo("Does not seem to require any changes :-)")
        return
    if not no_backup:
        backup = path.with_name(path.name + ".orig")
        click.echo(f"writing backup to {backup}...", err=True)
        with backup.open("w", encoding="utf-8", newline="") as out:
            out.write(text)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(upgraded)
    click.echo("Changes to your setting have been made!")


# -- logtool -------------------------------------------------------------------------
_RECEIVED = re.compile(r"Task ([\w.:-]+)\[([\w-]+)\] received")
_DONE = re.compile(r"Task ([\w.:-]+)\[([\w-]+)\] (succeeded|raised|retry|rejected|revoked)")


def _lines(files: tuple[str, ...]) -> Iterator[str]:
    for name in files:
        with open(name, errors="replace") as handle:
            yield from handle


@click.group()
def logtool() -> None:
    """Read worker log files: stats, traces, errors, incomplete tasks."""


@logtool.command()
@click.argument("files", nargs=-1, required=True)
def stats(files: tuple[str, ...]) -> None:
    """How many tasks were received, succeeded, failed … by task name."""
    events: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    for line in _lines(files):
        if match := _RECEIVED.search(line):
            events["received"] += 1
            by_task[match.group(1)] += 1
        elif match := _DONE.search(line):
            events[match.group(3)] += 1
    click.echo("Events: " + ", ".join(f"{k}: {v}" for k, v in sorted(events.items())))
    for name, count in by_task.most_common():
        click.echo(f"  {name}: {count}")


@logtool.command()
@click.argument("files", nargs=-1, required=True)
def traces(files: tuple[str, ...]) -> None:
    """Print every traceback in the logs."""
    inside = False
    for line in _lines(files):
        if line.startswith("Traceback (most recent call last):"):
            inside = True
        if inside:
            click.echo(line, nl=False)
            if line and not line.startswith((" ", "Traceback")):
                inside = False


@logtool.command()
@click.argument("files", nargs=-1, required=True)
def errors(files: tuple[str, ...]) -> None:
    """Print the ERROR and CRITICAL lines."""
    for line in _lines(files):
        if ": ERROR/" in line or ": CRITICAL/" in line:
            click.echo(line, nl=False)


@logtool.command()
@click.argument("files", nargs=-1, required=True)
def incomplete(files: tuple[str, ...]) -> None:
    """Ids of tasks received but never finished."""
    started: dict[str, str] = {}
    for line in _lines(files):
        if match := _RECEIVED.search(line):
            started[match.group(2)] = match.group(1)
        elif match := _DONE.search(line):
            started.pop(match.group(2), None)
    for task_id, name in started.items():
        click.echo(f"{name}[{task_id}]")


@logtool.command()
@click.argument("files", nargs=-1, required=True)
def debug(files: tuple[str, ...]) -> None:
    """Print every line that names a task, with its task id first."""
    for line in _lines(files):
        if match := (_RECEIVED.search(line) or _DONE.search(line)):
            click.echo(f"{match.group(2)} {line}", nl=False)
