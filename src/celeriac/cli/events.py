"""``celeriac events``: watch the cluster's events as they happen, one line each.

Three formats: a short live line (the default), ``--dump`` (Celery's ``celery events
--dump`` lines, so scripts that read those keep working) and ``--json`` (each event as
received, one JSON object per line, for ``jq`` and log shippers).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from celeriac.cli.daemon import daemon_options, detach_and_exec, drop_privileges
from celeriac.events.dumper import Dumper, _Names
from celeriac.exceptions import BrokerError

if TYPE_CHECKING:
    from celeriac.cli.main import CLIContext

__all__ = ["Dumper", "LiveFormat", "events"]

Event = dict[str, Any]


def _kib(value: Any) -> str:
    return f"{int(value) / 1024:+.0f} KiB" if isinstance(value, int) else "?"


class LiveFormat:
    """The default line: time, node, type, the task, and what matters for that type."""

    def __init__(self) -> None:
        self.names = _Names()

    def _task(self, event: Event) -> str:
        uuid = str(event.get("uuid", ""))
        name = event.get("name")
        if name:
            self.names.remember(uuid, str(name))
        return f"{name or self.names.get(uuid, '?')}[{uuid}]"

    def _details(self, type_: str, event: Event) -> str:
        if type_ in ("task-received", "task-sent"):
            return f"args={event.get('args')} kwargs={event.get('kwargs')}"
        if type_ == "task-succeeded":
            text = f"result={event.get('result')} runtime={float(event.get('runtime') or 0):.4f}s"
            return text + (f" rss={_kib(event['rss_delta'])}" if "rss_delta" in event else "")
        if type_ in ("task-failed", "task-retried"):
            return str(event.get("exception"))
        if type_ == "task-revoked":
            flags = [k for k in ("terminated", "expired") if event.get(k)]
            return ", ".join(flags)
        if type_ == "task-rejected":
            return f"requeue={event.get('requeue')}"
        if type_.startswith("worker-"):
            load = ",".join(str(x) for x in event.get("loadavg") or [])
            return f"active={event.get('active')} processed={event.get('processed')} load={load}"
        return ""

    def __call__(self, event: Event) -> str:
        type_ = str(event.get("type", ""))
        stamp = datetime.fromtimestamp(float(event.get("timestamp", 0.0))).strftime("%H:%M:%S.%f")[
            :-3
        ]
        subject = self._task(event) if type_.startswith("task-") else ""
        parts = [stamp, str(event.get("hostname", "")), type_, subject, self._details(type_, event)]
        return "  ".join(part for part in parts if part)


def _json_line(event: Event) -> str:
    return json.dumps(event, default=str)


@click.command()
@click.option("-d", "--dump", is_flag=True, help="Print Celery's `celery events --dump` lines.")
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON object.")
@click.option("-c", "--camera", help="Take snapshots with this camera class (pkg.mod:Camera).")
@click.option(
    "-F", "--frequency", "--freq", "frequency", type=float, default=1.0,
    help="Seconds between camera snapshots.",
)  # fmt: skip
@click.option("-r", "--maxrate", help="Camera: at most this many snapshots (e.g. 10/m).")
@click.option("-l", "--loglevel", default="WARNING", help="Logging level (camera mode).")
@click.option("-f", "--logfile", help="Log to this file (camera mode).")
@click.option("--pidfile", help="Write the pid to this file (camera mode).")
@click.option("--limit", type=int, help="Stop after this many events.")
@click.option("--timeout", type=float, help="Stop when no event came for this many seconds.")
@click.option(
    "--routing-key", default="#", show_default=True, help="Binding key (worker.#: workers only)."
)
@click.option("--no-wakeup", is_flag=True, help="Do not ask the workers for a heartbeat first.")
@daemon_options
@click.pass_obj
def events(
    obj: CLIContext,
    dump: bool,
    as_json: bool,
    camera: str | None,
    frequency: float,
    maxrate: str | None,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
    limit: int | None,
    timeout: float | None,
    routing_key: str,
    no_wakeup: bool,
    detach: bool,
    uid: str | None,
    gid: str | None,
    umask: str | None,
    executable: str | None,
) -> None:
    """Print the cluster's events as they happen, one line each (Ctrl-C stops)."""
    if dump and as_json:
        raise click.UsageError("choose one of --dump and --json")
    app = obj.app
    if camera:
        _run_camera(app, camera, frequency, maxrate, loglevel, logfile, pidfile, limit, timeout,
                    detach, (uid, gid, umask, executable))  # fmt: skip
        return
    if detach:
        raise click.UsageError("--detach runs a camera (-c); the event printers stay attached")
    line: Callable[[Event], str] = _json_line if as_json else Dumper() if dump else LiveFormat()

    def show(event: Event) -> None:
        click.echo(line(event))

    if dump:
        click.echo("-> evdump: starting capture...")
    seen = 0
    while True:
        receiver = app.events.Receiver(handlers={"*": show}, routing_key=routing_key)
        try:
            for _ in receiver.itercapture(
                limit=None if limit is None else limit - seen,
                timeout=timeout,
                wakeup=not no_wakeup and seen == 0,
            ):
                seen += 1
            return
        except TimeoutError:
            return
        except KeyboardInterrupt:
            return
        except (BrokerError, ConnectionError, OSError) as exc:
            click.echo(f"-> Connection lost ({exc}), attempting reconnect", err=True)
            time.sleep(1.0)


def _run_camera(
    app: Any, camera: str, freq: float, maxrate: str | None, loglevel: str,
    logfile: str | None, pidfile: str | None, limit: int | None, timeout: float | None,
    detach: bool, daemon: tuple[str | None, str | None, str | None, str | None],
) -> None:  # fmt: skip
    """``events -c Camera``: :func:`celeriac.events.snapshot.evcam`, daemonized with -D."""
    from celeriac.events.snapshot import evcam

    uid, gid, umask, executable = daemon
    if detach:
        detach_and_exec(pidfile, logfile, umask, executable=executable)
    drop_privileges(uid, gid)
    app.log.setup(loglevel.upper(), logfile)
    if pidfile:
        with open(pidfile, "w") as handle:
            handle.write(f"{os.getpid()}\n")
    try:
        evcam(camera, freq=freq, maxrate=maxrate, app=app, limit=limit, timeout=timeout)
    finally:
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
