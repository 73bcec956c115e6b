"""``celeriac beat``: run the periodic task scheduler with Celery's flags."""

from __future__ import annotations

import os
import signal
from typing import Any

import click

from celeriac import signals
from celeriac.cli.boundary import loglevel_option
from celeriac.cli.daemon import daemon_options, detach_and_exec, drop_privileges
from celeriac.cli.main import CLIContext
from celeriac.utils.log import set_process_name
from celeriac.utils.redis_url import redacted_url as redacted

__all__ = ["beat"]


def _path(value: str | os.PathLike[str] | None) -> str | None:
    return os.fspath(value) if value else None


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _umask(value: object) -> str | None:
    if value in (None, ""):
        return None
    return oct(value)[2:] if isinstance(value, int) else str(value)


def _write_pidfile(path: str) -> None:
    if os.path.exists(path):
        try:
            with open(path) as handle:
                old = int(handle.read().strip() or 0)
            os.kill(old, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            os.unlink(path)
        else:
            raise click.ClickException(f"pidfile {path} names a running process ({old})")
    with open(path, "w") as handle:
        handle.write(f"{os.getpid()}\n")


@click.command()
@loglevel_option
@click.option("-f", "--logfile", help="Log to this file instead of stderr.")
@click.option("--pidfile", help="Write beat's pid to this file.")
@click.option(
    "-s",
    "--schedule",
    "schedule_filename",
    help="The schedule file (default: beat_schedule_filename, celerybeat-schedule).",
)
@click.option(
    "-S", "--scheduler", help="Scheduler class, 'pkg.module:Class' (default: beat_scheduler)."
)
@click.option("--max-interval", type=float, help="Longest sleep between schedule checks, s.")
@click.option("-n", "--hostname", help="Beat's node name (remote control).")
@click.option(
    "--enable-remote-control/--no-enable-remote-control",
    default=None,
    help="Answer remote control (beat_enable_remote_control).",
)
@daemon_options
@click.pass_obj
def beat(
    obj: CLIContext,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
    schedule_filename: str | None,
    scheduler: str | None,
    max_interval: float | None,
    hostname: str | None,
    enable_remote_control: bool | None,
    detach: bool,
    uid: str | None,
    gid: str | None,
    umask: str | None,
    executable: str | None,
) -> None:
    """Start beat, the periodic task scheduler."""
    from celeriac.beat.service import Beat

    app = obj.app
    if detach:
        detach_and_exec(
            pidfile or _path(app.conf.beat_pidfile) or "celerybeat.pid",
            logfile or _path(app.conf.beat_logfile),
            umask or _umask(app.conf.beat_umask),
            executable=executable or _path(app.conf.beat_executable),
        )
    drop_privileges(uid or _str(app.conf.beat_uid), gid or _str(app.conf.beat_gid))
    set_process_name("Beat")
    app.log.setup(loglevel.upper(), logfile or app.conf.beat_logfile)
    pidfile = pidfile or _path(app.conf.beat_pidfile)
    app.finalize()
    service = Beat(
        app,
        scheduler=scheduler,
        schedule_filename=schedule_filename,
        max_interval=max_interval,
    )
    if pidfile:
        _write_pidfile(pidfile)

    def on_signal(signum: int, _frame: Any) -> None:
        service.stop()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, on_signal)
    signals.beat_init.send(sender=service)
    if not obj.quiet:
        click.echo(f"celeriac beat: broker {redacted(app.broker_url)}", err=True)
    try:
        service.run()  # a bad entry raises, naming it: the CLI's boundary prints that line
    finally:
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
