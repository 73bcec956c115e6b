"""``celeriac`` entry point: global options (-A, -b, --result-backend, --workdir) and commands."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from celeriac import __version__
from celeriac.app.base import Celery
from celeriac.cli.app_loader import find_app
from celeriac.cli.boundary import DEBUG, BoundaryGroup
from celeriac.cli.urls import check_urls

__all__ = ["CLIContext", "celeriac", "main", "main_for_app"]


class CLIContext:
    """What the global options decided; commands ask it for the app."""

    def __init__(
        self,
        app_spec: str | None,
        broker: str | None,
        result_backend: str | None,
        config: str | None,
        quiet: bool,
        no_color: bool = False,
        skip_checks: bool = False,
    ) -> None:
        self.no_color = no_color
        self.skip_checks = skip_checks
        self.app_spec = app_spec
        self.broker = broker
        self.result_backend = result_backend
        self.config = config
        self.quiet = quiet
        self._app: Celery | None = None

    @property
    def app(self) -> Celery:
        """The app named by ``-A`` (or a default app), with the global overrides applied.

        Raises:
            AppNotFound: ``-A`` names no module, or no app in it.
            ImproperlyConfigured: the broker or result backend URL is unusable.
        """
        if self._app is None:
            app = find_app(self.app_spec) if self.app_spec else Celery("default")
            if self.config:
                app.config_from_object(self.config)
            if self.broker:
                app.conf.broker_url = self.broker
            if self.result_backend:
                app.conf.result_backend = self.result_backend
            if self.no_color:
                app.conf.worker_log_color = False
            if not self.skip_checks:
                check_urls(app, bool(self.broker), bool(self.result_backend))
            self._app = app
        return self._app


@click.group(cls=BoundaryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-A",
    "--app",
    "app_spec",
    metavar="APPLICATION",
    help="The app: a module, module:attr or a package.",
)
@click.option("-b", "--broker", help="Broker URL (overrides broker_url).")
@click.option("--result-backend", help="Result backend URL (overrides result_backend).")
@click.option("--config", help="Module to load settings from (config_from_object).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Change to this directory before loading the app.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print less.")
@click.option("-C", "--no-color", is_flag=True, help="No colours in log output.")
@click.option("--skip-checks", is_flag=True, help="Don't check the broker/backend URLs first.")
@click.option("--loader", hidden=True, help="Celery's loader class (celeriac has one loader).")
@click.option("--debug", is_flag=True, help="Print the traceback of an error, not just its line.")
@click.version_option(__version__, "--version", message="%(version)s (celeriac)")
@click.pass_context
def celeriac(
    ctx: click.Context,
    app_spec: str | None,
    broker: str | None,
    result_backend: str | None,
    config: str | None,
    workdir: str | None,
    quiet: bool,
    no_color: bool,
    skip_checks: bool,
    loader: str | None,
    debug: bool,
) -> None:
    """celeriac: Celery's task queue, on asyncio.

    A command that fails prints one line on stderr and exits with status 1; --debug (or
    -l DEBUG on worker and beat) prints the traceback too.
    """
    if debug:
        ctx.meta[DEBUG] = True
    if workdir:
        os.chdir(workdir)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    # As Celery does: -b and --result-backend set the environment variables, which win
    # over every setting (and reach the worker's children and the commands it starts).
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
    if result_backend:
        os.environ["CELERY_RESULT_BACKEND"] = result_backend
    preset = ctx.obj if isinstance(ctx.obj, CLIContext) else None
    if loader:
        click.echo(f"--loader {loader} ignored: celeriac has one loader", err=True)
    ctx.obj = CLIContext(app_spec, broker, result_backend, config, quiet, no_color, skip_checks)
    if preset is not None and preset._app is not None and not app_spec:
        ctx.obj._app = preset._app  # app.start() / worker_main(): the caller's app
        if broker:
            preset._app.conf.broker_url = broker
        if result_backend:
            preset._app.conf.result_backend = result_backend


def _register_commands() -> None:
    from celeriac.cli.beat import beat
    from celeriac.cli.commands import call, purge, report, result
    from celeriac.cli.worker import worker

    for command in (worker, call, result, purge, report):
        celeriac.add_command(command)
    celeriac.add_command(beat)

    from celeriac.cli.control import control, inspect, status

    for command in (inspect, control, status):
        celeriac.add_command(command)

    from celeriac.cli.multi import multi
    from celeriac.cli.tools import list_, logtool, shell, upgrade

    for command in (multi, shell, list_, upgrade, logtool):
        celeriac.add_command(command)
    from celeriac.cli.amqp import amqp
    from celeriac.cli.events import events
    from celeriac.cli.graph import graph
    from celeriac.cli.migrate import migrate

    celeriac.add_command(events)
    celeriac.add_command(migrate)
    celeriac.add_command(graph)
    celeriac.add_command(amqp)

    from celeriac.cli.dashboard import dashboard

    celeriac.add_command(dashboard)


_register_commands()


def main(argv: list[str] | None = None) -> Any:
    """Run the command line."""
    return celeriac.main(args=argv, prog_name="celeriac")


def main_for_app(app: Celery, argv: list[str]) -> Any:
    """Run the command line with ``app`` as the ``-A`` app (``app.start()``, ``worker_main()``)."""
    ctx_obj = CLIContext(None, None, None, None, False)
    ctx_obj._app = app
    return celeriac.main(args=argv, prog_name="celeriac", obj=ctx_obj)
