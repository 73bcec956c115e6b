"""``celeriac worker``: start a worker node with Celery's flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from celeriac.cli.main import CLIContext
from celeriac.exceptions import CeleryError
from celeriac.worker.worker import POOLS, Worker, WorkerOptions

__all__ = ["worker"]


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _pool_setting(value: object) -> str:
    """Map Celery's pool names (and class paths) to ours; unknown ones pass through to fail."""
    name = str(value or "prefork").rsplit(".", 1)[-1].rsplit(":", 1)[-1].lower()
    return {"processes": "prefork", "thread": "threads", "taskpool": "prefork"}.get(name, name)


@click.command()
@click.option("-n", "--hostname", help="Node name (%h host, %n name, %d domain).")
@click.option("-Q", "--queues", multiple=True, help="Queues to consume, comma separated.")
@click.option("-X", "--exclude-queues", multiple=True, help="Queues not to consume.")
@click.option("-c", "--concurrency", type=int, help="Processes/threads (default: CPU count).")
@click.option(
    "-P",
    "--pool",
    type=click.Choice(POOLS),
    default=None,
    help="Pool: prefork, threads or solo (default: the worker_pool setting, prefork).",
)
@click.option(
    "-l",
    "--loglevel",
    default="WARNING",
    show_default=True,
    type=click.Choice(
        ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"], case_sensitive=False
    ),
)
@click.option("-f", "--logfile", help="Log to this file instead of stderr.")
@click.option("--pidfile", help="Write the worker's pid to this file.")
@click.option("--prefetch-multiplier", type=int, help="Messages reserved per slot.")
@click.option("--max-tasks-per-child", type=int, help="Replace a child after N tasks.")
@click.option("--max-memory-per-child", type=int, help="Replace a child above N KiB resident.")
@click.option("--time-limit", type=float, help="Hard time limit per task, seconds.")
@click.option("--soft-time-limit", type=float, help="Soft time limit per task, seconds.")
@click.option("-E", "--task-events", "send_events", is_flag=True, help="Send task events.")
@click.option("--without-heartbeat", is_flag=True, help="Send no heartbeats.")
@click.option("--without-gossip", is_flag=True, hidden=True)
@click.option("--without-mingle", is_flag=True, hidden=True)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty (celeriac only).")
@click.option(
    "-S", "--statedb", help="File keeping revoked task ids across restarts (worker_state_db)."
)
@click.option("-B", "--beat", "embed_beat", is_flag=True, help="Also run beat (development).")
@click.option("-s", "--schedule-filename", "--schedule", help="Beat's schedule file (with -B).")
@click.pass_obj
def worker(
    obj: CLIContext,
    hostname: str | None,
    queues: tuple[str, ...],
    exclude_queues: tuple[str, ...],
    concurrency: int | None,
    pool: str | None,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
    prefetch_multiplier: int | None,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    time_limit: float | None,
    soft_time_limit: float | None,
    send_events: bool,
    without_heartbeat: bool,
    without_gossip: bool,
    without_mingle: bool,
    burst: bool,
    statedb: str | None,
    embed_beat: bool = False,
    schedule_filename: str | None = None,
) -> None:
    """Start a worker."""
    app = obj.app
    options = WorkerOptions(
        hostname=hostname,
        queues=_split(queues),
        exclude_queues=_split(exclude_queues),
        concurrency=concurrency,
        pool=pool or _pool_setting(app.conf.worker_pool),
        loglevel=loglevel.upper(),
        logfile=logfile,
        pidfile=pidfile,
        prefetch_multiplier=prefetch_multiplier,
        max_tasks_per_child=max_tasks_per_child,
        max_memory_per_child=max_memory_per_child,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        send_events=send_events,
        without_heartbeat=without_heartbeat,
        burst=burst,
        quiet=obj.quiet,
        statedb=statedb,
    )
    node = Worker(app, options)
    stop_beat = _embed_beat(app, node, schedule_filename) if embed_beat else None
    try:
        code = node.start()
    except CeleryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if stop_beat is not None:
            stop_beat()
    raise SystemExit(code)


def _embed_beat(app: Any, node: Worker, schedule_filename: str | None) -> Callable[[], None]:
    """Start beat on a thread of the worker's main process once it is ready (``-B``).

    With prefork the main process is the supervisor: beat starts after the children are
    forked, so no child inherits its thread.
    """
    from celeriac import signals
    from celeriac.beat.service import EmbeddedBeat

    running: list[EmbeddedBeat] = []

    def on_ready(_worker: Worker) -> None:
        # Made here, after the fork: beat's connections belong to this process only.
        if not running:
            embedded = EmbeddedBeat(app, schedule_filename=schedule_filename)
            running.append(embedded)
            signals.beat_embedded_init.send(sender=embedded.beat)
            embedded.start()

    def stop() -> None:
        for embedded in running:
            embedded.stop()

    node.on_ready.append(on_ready)
    return stop
