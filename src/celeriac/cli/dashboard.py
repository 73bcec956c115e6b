"""``celeriac dashboard``: the web dashboard (needs the ``dashboard`` extra)."""

from __future__ import annotations

import click

from celeriac.cli.main import CLIContext
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["dashboard"]


def _duration(text: str | None) -> float | None:
    """``3600``, ``90m``, ``12h`` or ``7d`` in seconds."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1].lower())
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration (3600, 90m, 12h, 7d)")


@click.command()
@click.option("--port", default=5555, show_default=True, help="TCP port.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--basic-auth", multiple=True, metavar="USER:PASS", help="A user who may act (repeatable)."
)
@click.option(
    "--read-only-auth",
    multiple=True,
    metavar="USER:PASS",
    help="A user who may only look (repeatable).",
)
@click.option("--token", multiple=True, help="A bearer token that may act (repeatable).")
@click.option("--read-only-token", multiple=True, help="A bearer token that may only look.")
@click.option("--metrics-public", is_flag=True, help="Serve /metrics without credentials.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without credentials.")
@click.option(
    "--db",
    "store_url",
    default="celeriac-dashboard.sqlite3",
    show_default=True,
    help="History store: a SQLite file or a postgresql:// URL.",
)
@click.option(
    "--max-tasks", default=1_000_000, show_default=True, help="Tasks kept in the history."
)
@click.option("--max-age", default=None, help="Drop tasks older than this (3600, 12h, 7d).")
@click.option(
    "--enable-events/--no-enable-events",
    default=True,
    show_default=True,
    help="Broadcast enable_events every 5 s, as Flower does.",
)
@click.option(
    "--inspect-interval",
    default=10.0,
    show_default=True,
    help="Seconds between worker stats polls (0: off).",
)
@click.option(
    "--queue-interval",
    default=5.0,
    show_default=True,
    help="Seconds between queue-length samples (0: off).",
)
@click.option(
    "--seed",
    default=10_000,
    show_default=True,
    help="Results read from the result backend at start (0: none).",
)
@click.option("-l", "--loglevel", default="info", show_default=True, help="uvicorn's log level.")
@click.pass_obj
def dashboard(
    obj: CLIContext,
    port: int,
    address: str,
    basic_auth: tuple[str, ...],
    read_only_auth: tuple[str, ...],
    token: tuple[str, ...],
    read_only_token: tuple[str, ...],
    metrics_public: bool,
    insecure: bool,
    store_url: str,
    max_tasks: int,
    max_age: str | None,
    enable_events: bool,
    inspect_interval: float,
    queue_interval: float,
    seed: int,
    loglevel: str,
) -> None:
    """Serve the dashboard: workers, tasks, workflows, queues, graphs, an API and /metrics."""
    try:
        from celeriac.dashboard.auth import AuthConfig
        from celeriac.dashboard.context import DashboardOptions
        from celeriac.dashboard.server import serve
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"the dashboard needs its extra: pip install 'celeriac[dashboard]' ({exc})"
        ) from exc
    auth = AuthConfig.from_options(
        basic_auth, read_only_auth, token, read_only_token, metrics_public
    )
    options = DashboardOptions(
        store_url=store_url,
        max_tasks=max_tasks,
        max_age=_duration(max_age),
        auth=auth,
        enable_events=enable_events,
        inspect_interval=inspect_interval,
        queue_interval=queue_interval,
        seed=seed,
    )
    serve(
        obj.app, options, address=address, port=port, insecure=insecure, log_level=loglevel.lower()
    )
