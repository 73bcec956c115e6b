"""``celeriac beat``: run the periodic task scheduler with Celery's flags."""

from __future__ import annotations

import os
import signal
from typing import Any

import click

from celeriac import signals
from celeriac.cli.main import CLIContext
from celeriac.exceptions import CeleryError
from celeriac.utils.log import setup_logging
from celeriac.utils.redis_url import redacted_url as redacted

__all__ = ["beat"]

_LEVELS = click.Choice(
    ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"], case_sensitive=False
)


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
@click.option("-l", "--loglevel", default="WARNING", show_default=True, type=_LEVELS)
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
@click.option("--detach", is_flag=True, hidden=True)
@click.pass_obj
def beat(
    obj: CLIContext,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
    schedule_filename: str | None,
    scheduler: str | None,
    max_interval: float | None,
    detach: bool,
) -> None:
    """Start beat, the periodic task scheduler."""
    from celeriac.beat.service import Beat

    if detach:
        raise click.UsageError("--detach is not supported: run beat under a process supervisor")
    app = obj.app
    setup_logging(loglevel.upper(), logfile or app.conf.beat_logfile, "Beat")
    pidfile = pidfile or app.conf.beat_pidfile
    try:
        app.finalize()
        service = Beat(
            app,
            scheduler=scheduler,
            schedule_filename=schedule_filename,
            max_interval=max_interval,
        )
    except (CeleryError, ValueError, TypeError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
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
        service.run()
    except (CeleryError, ValueError, TypeError) as exc:  # bad entries are named
        raise click.ClickException(str(exc)) from None
    finally:
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
