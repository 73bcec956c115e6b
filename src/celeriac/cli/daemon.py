"""The daemon options of ``worker`` and ``beat`` (``-D/--detach``, ``--uid``, ``--gid``,
``--umask``, ``--executable``) and what they do.

``--detach`` forks twice (a new session, no terminal, stdio on ``/dev/null``) and runs
the same command again without ``--detach`` in the daemon (with ``--executable`` if
given), so the daemon starts from a clean interpreter and writes its own pid file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from celeriac.platforms import LockFailed, Pidfile, maybe_drop_privileges

__all__ = ["daemon_options", "detach_and_exec", "drop_privileges"]

F = TypeVar("F", bound=Callable[..., Any])

#: Arguments that mean "detach" (removed from the command the daemon runs).
DETACH_FLAGS = ("-D", "--detach")


def daemon_options(func: F) -> F:
    """Add ``-D/--detach``, ``--uid``, ``--gid``, ``--umask`` and ``--executable``."""
    options = [
        click.option("-D", "--detach", is_flag=True, help="Run in the background as a daemon."),
        click.option("--uid", help="Run as this user (name or id) once started."),
        click.option("--gid", help="Run as this group (name or id) once started."),
        click.option("--umask", help="The daemon's umask (octal, e.g. 022)."),
        click.option("--executable", help="The Python interpreter the daemon runs."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _without_detach(argv: list[str]) -> list[str]:
    return [arg for arg in argv if arg not in DETACH_FLAGS]


def detach_and_exec(
    pidfile: str | None,
    logfile: str | None,
    umask: str | None,
    workdir: str | None = None,
    executable: str | None = None,
    argv: list[str] | None = None,
) -> None:
    """Become a daemon and run this command line again without ``--detach``; never returns
    in the calling process (it exits 0 once the daemon is forked).

    Raises:
        click.ClickException: ``pidfile`` names a running process.
    """
    if pidfile:
        lock = Pidfile(pidfile)
        if lock.is_locked() and not lock.remove_if_stale():
            raise click.ClickException(
                str(LockFailed(f"pid file {pidfile} names a running process"))
            )
    args = _without_detach(list(sys.argv[1:] if argv is None else argv))
    python = executable or sys.executable
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    if workdir:
        os.chdir(workdir)
    os.umask(int(umask, 8) if umask else 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    target = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if logfile else devnull
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.execv(python, [python, "-m", "celeriac", *args])


def drop_privileges(uid: str | None, gid: str | None) -> None:
    """Run as ``uid``/``gid`` from here on (when given)."""
    if uid is not None or gid is not None:
        maybe_drop_privileges(uid=uid, gid=gid)
