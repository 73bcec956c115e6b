"""``celeriac`` entry point: global options (-A, -b, --result-backend, --workdir) and commands."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from celeriac import __version__
from celeriac.app.base import Celery
from celeriac.cli.app_loader import AppNotFound, find_app
from celeriac.exceptions import CeleryError

__all__ = ["CLIContext", "celeriac", "main"]


class CLIContext:
    """What the global options decided; commands ask it for the app."""

    def __init__(
        self,
        app_spec: str | None,
        broker: str | None,
        result_backend: str | None,
        config: str | None,
        quiet: bool,
    ) -> None:
        self.app_spec = app_spec
        self.broker = broker
        self.result_backend = result_backend
        self.config = config
        self.quiet = quiet
        self._app: Celery | None = None

    @property
    def app(self) -> Celery:
        """The app named by ``-A`` (or a default app), with the global overrides applied."""
        if self._app is None:
            try:
                app = find_app(self.app_spec) if self.app_spec else Celery("default")
                if self.config:
                    app.config_from_object(self.config)
            except AppNotFound as exc:
                raise click.ClickException(str(exc)) from None
            except CeleryError as exc:
                raise click.ClickException(f"Invalid configuration: {exc}") from None
            if self.broker:
                app.conf.broker_url = self.broker
            if self.result_backend:
                app.conf.result_backend = self.result_backend
            self._app = app
        return self._app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
) -> None:
    """celeriac: Celery's task queue, on asyncio."""
    if workdir:
        os.chdir(workdir)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    ctx.obj = CLIContext(app_spec, broker, result_backend, config, quiet)


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


_register_commands()


def main(argv: list[str] | None = None) -> Any:
    """Run the command line."""
    return celeriac.main(args=argv, prog_name="celeriac")
