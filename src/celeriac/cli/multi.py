"""``celeriac multi start|stop|stopwait|restart|kill|names|show|get|expand|help``."""

from __future__ import annotations

import shlex
import signal

import click

from celeriac.apps.multi import Cluster, MultiParser
from celeriac.utils.nodenames import node_format

__all__ = ["multi"]

SUBCOMMANDS = ("start", "stop", "stopwait", "restart", "kill", "names", "show", "get",
               "expand", "help")  # fmt: skip

USAGE = """\
usage: celeriac multi start <node1 node2 nodeN|range> [worker options]
       celeriac multi stop <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi restart <n1 n2 nN|range> [-SIG] [worker options]
       celeriac multi kill <n1 n2 nN|range>
       celeriac multi show <n1 n2 nN|range> [worker options]
       celeriac multi get hostname <n1 n2 nN|range> [-qv] [worker options]
       celeriac multi names <n1 n2 nN|range>
       celeriac multi expand template <n1 n2 nN|range>
       celeriac multi help

examples: celeriac multi start 3 -A proj -l INFO  (celery1..celery3)
          celeriac multi start w1 w2 -c:w1 4 --pidfile=/run/%n.pid --logfile=/var/log/%n%I.log
          celeriac multi stopwait w1 w2
"""


class MultiCommand(click.Command):
    """A click command that hands every argument to the multi tool."""

    #: The sub-commands (compared with Celery's in tests/test_public_api.py).
    subcommands = SUBCOMMANDS


@click.command(
    cls=MultiCommand,
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def multi(args: tuple[str, ...]) -> None:
    """Start, stop and restart several workers in the background."""
    if not args or args[0] in ("help", "-h", "--help"):
        click.echo(USAGE)
        return
    command, rest = args[0], list(args[1:])
    if command not in SUBCOMMANDS:
        known = ", ".join(SUBCOMMANDS)
        raise click.UsageError(f"unknown multi command {command!r} (one of {known})")
    if command in ("expand", "get"):
        _print_for_nodes(command, rest)
        return
    sig = _signal(rest)
    cluster = Cluster(MultiParser().parse(rest), out=click.echo)
    if command in ("names", "show"):
        for line in cluster.names() if command == "names" else cluster.show():
            click.echo(line)
        return
    failed = {
        "start": cluster.start,
        "stop": lambda: cluster.stop(sig),
        "stopwait": lambda: cluster.stop(sig, wait=True),
        "restart": cluster.restart,
        "kill": cluster.kill,
    }[command]()
    if failed:
        raise SystemExit(1)


def _print_for_nodes(command: str, rest: list[str]) -> None:
    """``expand TEMPLATE nodes...`` and ``get NODE nodes...``."""
    first, rest = (rest[0], rest[1:]) if rest else ("", [])
    for node in MultiParser().parse(rest):
        if command == "expand":
            click.echo(node_format(first, node.name))
        elif first in (node.name, node.name.split("@")[0]):
            click.echo(shlex.join(node.argv))


def _signal(args: list[str]) -> int:
    """Pop a ``-SIGNAME``/``-9`` argument (``stop -KILL``); SIGTERM by default."""
    for arg in list(args):
        if not arg.startswith("-") or arg.startswith("--") or len(arg) <= 2:
            continue
        name = arg[1:].upper().removeprefix("SIG")
        if name.isdigit():
            args.remove(arg)
            return int(name)
        if hasattr(signal, f"SIG{name}"):
            args.remove(arg)
            return int(getattr(signal, f"SIG{name}"))
    return int(signal.SIGTERM)
