"""``celeriac worker``: start a worker node with Celery's flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from celeriac.cli.boundary import loglevel_option
from celeriac.cli.daemon import daemon_options, detach_and_exec, drop_privileges
from celeriac.cli.main import CLIContext
from celeriac.utils.nodenames import node_format
from celeriac.utils.sysinfo import is_auto_concurrency
from celeriac.worker.worker import POOLS, Worker, WorkerOptions, expand_hostname

__all__ = ["worker"]


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _pool_setting(value: object) -> str:
    """Map Celery's pool names (and class paths) to ours; unknown ones pass through to fail."""
    name = str(value or "prefork").rsplit(".", 1)[-1].rsplit(":", 1)[-1].lower()
    return {"processes": "prefork", "thread": "threads", "taskpool": "prefork"}.get(name, name)


def _concurrency_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> int | str | None:
    """``-c``: a whole number or ``auto``."""
    if value is None or is_auto_concurrency(value):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a whole number nor 'auto'") from None


def _pool_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``-P``: our pools under Celery's names too; eventlet/gevent refused with the why."""
    if value is None:
        return None
    name = _pool_setting(value)
    if name in ("eventlet", "gevent"):
        raise click.BadParameter(
            f"celeriac has no {name} pool (no green threads): use -P threads for I/O-bound "
            "tasks, or write them as async def tasks, which run on the worker's asyncio loop"
        )
    if name not in POOLS:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(POOLS)}")
    return name


@click.command()
@click.option("-n", "--hostname", help="Node name (%h host, %n name, %d domain).")
@click.option("-Q", "--queues", multiple=True, help="Queues to consume, comma separated.")
@click.option("-X", "--exclude-queues", multiple=True, help="Queues not to consume.")
@click.option(
    "-c",
    "--concurrency",
    callback=_concurrency_option,
    help="Processes/threads, or 'auto' (the CPUs and cgroup quota; default: CPU count).",
)
@click.option(
    "-P",
    "--pool",
    default=None,
    callback=_pool_option,
    help="Pool: prefork, threads or solo (default: the worker_pool setting, prefork).",
)
@loglevel_option
@click.option("-f", "--logfile", help="Log to this file instead of stderr.")
@click.option("--pidfile", help="Write the worker's pid to this file.")
@click.option("--prefetch-multiplier", type=int, help="Messages reserved per slot.")
@click.option("--max-tasks-per-child", type=int, help="Replace a child after N tasks.")
@click.option("--max-memory-per-child", type=int, help="Replace a child above N KiB resident.")
@click.option("--time-limit", type=float, help="Hard time limit per task, seconds.")
@click.option("--soft-time-limit", type=float, help="Soft time limit per task, seconds.")
@click.option("-E", "--task-events", "send_events", is_flag=True, help="Send task events.")
@click.option("--without-heartbeat", is_flag=True, help="Send no heartbeats.")
@click.option(
    "--heartbeat-interval", type=float, help="Seconds between worker heartbeat events (2)."
)
@click.option("--without-gossip", is_flag=True, hidden=True)
@click.option("--without-mingle", is_flag=True, hidden=True)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty (celeriac only).")
@click.option(
    "-S", "--statedb", help="File keeping revoked task ids across restarts (worker_state_db)."
)
@click.option("-B", "--beat", "embed_beat", is_flag=True, help="Also run beat (development).")
@click.option("-s", "--schedule-filename", "--schedule", help="Beat's schedule file (with -B).")
@click.option("--scheduler", help="Beat's scheduler class (with -B).")
@click.option("-I", "--include", multiple=True, help="Also import these modules (comma separated).")
@click.option("--purge", "--discard", "purge", is_flag=True, help="Purge the queues first.")
@click.option("-O", "--optimization", type=click.Choice(["default", "fair"]), hidden=True)
@click.option("--disable-prefetch", is_flag=True, default=None, help="Reserve no extra messages.")
@click.option("--pool-start-method", type=click.Choice(["fork"]), hidden=True)
@click.option("--autoscale", help="max,min processes/threads: grow under load, shrink when idle.")
@click.option("--events", "events_flag", is_flag=True, hidden=True)
@daemon_options
@click.pass_obj
def worker(
    obj: CLIContext,
    hostname: str | None,
    queues: tuple[str, ...],
    exclude_queues: tuple[str, ...],
    concurrency: int | str | None,
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
    heartbeat_interval: float | None,
    without_gossip: bool,
    without_mingle: bool,
    burst: bool,
    statedb: str | None,
    embed_beat: bool = False,
    schedule_filename: str | None = None,
    scheduler: str | None = None,
    include: tuple[str, ...] = (),
    purge: bool = False,
    optimization: str | None = None,
    disable_prefetch: bool | None = None,
    pool_start_method: str | None = None,
    autoscale: str | None = None,
    events_flag: bool = False,
    detach: bool = False,
    uid: str | None = None,
    gid: str | None = None,
    umask: str | None = None,
    executable: str | None = None,
) -> None:
    """Start a worker."""
    app = obj.app
    conf = app.conf
    logfile = logfile or _opt(conf.worker_logfile)
    pidfile = pidfile or _opt(conf.worker_pidfile)
    if detach:
        nodename = expand_hostname(hostname)
        detach_and_exec(
            node_format(pidfile, nodename) if pidfile else None,
            node_format(logfile, nodename, i="0", I="") if logfile else None,
            umask or _opt(conf.worker_umask),
            executable=executable or _opt(conf.worker_executable),
        )
    drop_privileges(uid or _opt(conf.worker_uid), gid or _opt(conf.worker_gid))
    if include:
        app.conf.include = [*(conf.include or ()), *_split(include)]
    if disable_prefetch is not None:
        conf.worker_disable_prefetch = disable_prefetch
    send_events = send_events or events_flag
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
        heartbeat_interval=heartbeat_interval,
        burst=burst,
        quiet=obj.quiet,
        statedb=statedb,
    )
    if autoscale:
        options.autoscale = parse_autoscale(autoscale)
    node = Worker(app, options)
    if purge:
        _purge(node)
    stop_beat = _embed_beat(app, node, schedule_filename, scheduler) if embed_beat else None
    try:
        code = node.start()
    finally:
        if stop_beat is not None:
            stop_beat()
    raise SystemExit(code)


def _opt(value: object) -> str | None:
    if value in (None, ""):
        return None
    return oct(value)[2:] if isinstance(value, int) and not isinstance(value, bool) else str(value)


def parse_autoscale(value: str) -> tuple[int, int]:
    """``--autoscale=max,min`` (or ``max``): the bounds, largest first.

    Raises:
        click.BadParameter: not one or two whole numbers.
    """
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("expected max,min (e.g. 10,3)", param_hint="--autoscale") from None
    if not 1 <= len(numbers) <= 2 or min(numbers) < 0 or max(numbers) < 1:
        raise click.BadParameter("expected max,min (e.g. 10,3)", param_hint="--autoscale")
    high = max(numbers)
    low = min(numbers) if len(numbers) == 2 else 0
    return high, low


def _purge(node: Worker) -> None:
    """``--purge``: delete the waiting messages of the worker's queues before starting."""
    total = sum(node.app.transport.purge(queue) for queue in node.queues)
    click.echo(f"Purged {total} message{'s' if total != 1 else ''} from {len(node.queues)} "
               f"known task queue{'s' if len(node.queues) != 1 else ''}.")  # fmt: skip


def _embed_beat(
    app: Any, node: Worker, schedule_filename: str | None, scheduler: str | None = None
) -> Callable[[], None]:
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
            embedded = EmbeddedBeat(app, schedule_filename=schedule_filename, scheduler=scheduler)
            running.append(embedded)
            signals.beat_embedded_init.send(sender=embedded.beat)
            embedded.start()

    def stop() -> None:
        for embedded in running:
            embedded.stop()

    node.on_ready.append(on_ready)
    return stop
