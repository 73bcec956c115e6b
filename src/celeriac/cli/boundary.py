"""The CLI's one error boundary: a failing command prints one line, ``--debug`` the traceback.

Every command runs inside :class:`BoundaryGroup.invoke`. An exception that escapes a
command (a bad ``-A``, an unknown broker scheme, a malformed URL, a broker that is down,
a bug) becomes :class:`CommandFailed`: click prints ``Error: <one line>`` on stderr and
exits with status 1. The traceback is printed above that line only when the user asked
for it: ``celeriac --debug …``, or ``-l DEBUG``/``--loglevel DEBUG`` on ``worker``/``beat``.
Click's own errors (usage errors exit 2, ``Aborted!``) and ``SystemExit`` pass untouched.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from celeriac.cli.app_loader import AppNotFound
from celeriac.exceptions import CeleryError, ImproperlyConfigured

__all__ = [
    "DEBUG",
    "LEVELS",
    "BoundaryGroup",
    "CommandFailed",
    "describe",
    "loglevel_option",
    "mask_passwords",
]

F = TypeVar("F", bound=Callable[..., Any])

#: ``ctx.meta`` key (shared by a context and its sub-contexts): show tracebacks.
DEBUG = "celeriac.debug"

LEVELS = click.Choice(
    ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"], case_sensitive=False
)

#: ``scheme://user:password@`` in any text: the password is replaced by ``**``.
_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"\[\]]*):[^\s@/'\"]*@", re.I)


class CommandFailed(click.ClickException):
    """A command failed: click prints ``Error: <message>``; with ``trace``, that first."""

    exit_code = 1

    def __init__(self, message: str, trace: str | None = None) -> None:
        super().__init__(message)
        self.trace = trace

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the traceback (when asked for) and then the one line."""
        if self.trace:
            click.echo(self.trace, file=file, err=file is None, nl=False)
        super().show(file)


class BoundaryGroup(click.Group):
    """A click group whose commands fail in one line (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the group and its command; turn any escaping exception into one line."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            trace = "".join(traceback.format_exception(exc)) if ctx.meta.get(DEBUG) else None
            raise CommandFailed(describe(exc), trace) from exc


def describe(exc: BaseException) -> str:
    """One line for ``exc``: the message of a configuration error, else type and message."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, (ImproperlyConfigured, AppNotFound)):
        line = text or type(exc).__name__
    elif isinstance(exc, CeleryError):
        line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    else:
        shown = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        line = f"{shown} (celeriac --debug shows the traceback)"
    return mask_passwords(line)


def mask_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL in it masked."""
    return _PASSWORD.sub(r"\g<head>:**@", text)


def _note_debug(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value.upper() == "DEBUG":
        ctx.meta[DEBUG] = True
    return value


def loglevel_option(func: F) -> F:
    """``-l/--loglevel`` (Celery's levels); ``DEBUG`` also shows tracebacks of errors."""
    option = click.option(
        "-l",
        "--loglevel",
        default="WARNING",
        show_default=True,
        type=LEVELS,
        callback=_note_debug,
        help="Logging level; DEBUG also prints the traceback of an error.",
    )
    return option(func)
