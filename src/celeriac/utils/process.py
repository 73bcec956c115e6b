"""Celery's small ``celery.platforms`` helpers: exit codes, signals by name, file
descriptors, user and group ids (re-exported by :mod:`celeriac.platforms`)."""

from __future__ import annotations

import errno
import os
import platform
import signal as _signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = [
    "EX_FAILURE", "EX_OK", "EX_UNAVAILABLE", "EX_USAGE", "SIGMAP", "SYSTEM", "Signals",
    "close_open_fds", "current_pid", "fd_by_path", "get_errno_name", "get_fdmax", "ignore_errno",
    "initgroups", "isatty", "pyimplementation", "setgid", "setgroups", "setuid",
    "signal_name", "signals",
]  # fmt: skip

#: Exit codes (sysexits.h), as Celery's.
EX_OK = getattr(os, "EX_OK", 0)
EX_FAILURE = 1
EX_UNAVAILABLE = getattr(os, "EX_UNAVAILABLE", 69)
EX_USAGE = getattr(os, "EX_USAGE", 64)
#: ``platform.system()``: ``Linux``, ``Darwin``, ``Windows``.
SYSTEM = platform.system()
#: this process's id, kept current across ``fork`` (``os.getpid()`` is a system call)
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def current_pid() -> int:
    """This process's id, without a system call (kept current by an at-fork hook).

    For code that checks "am I still the process that opened this?" on every call
    (``delay()``, every task event).
    """
    return _pid[0]


#: Signal number -> name (``SIGTERM``).
SIGMAP = {int(sig): sig.name for sig in _signal.Signals}


def signal_name(signum: int) -> str:
    """``15`` -> ``TERM``."""
    return SIGMAP[int(signum)][3:]


def get_errno_name(n: int | str) -> str:
    """``errno.EINTR`` -> ``EINTR`` (a name is returned as it is)."""
    return n if isinstance(n, str) else errno.errorcode[n]


@contextmanager
def ignore_errno(*errnos: int | str, **kwargs: Any) -> Iterator[None]:
    """Swallow ``OSError`` with one of these errno numbers or names (all when none given)."""
    types = kwargs.get("types") or (OSError,)
    wanted = {getattr(errno, e) if isinstance(e, str) else e for e in errnos}
    try:
        yield
    except types as exc:
        if not hasattr(exc, "errno") or (wanted and exc.errno not in wanted):
            raise


def pyimplementation() -> str:
    """``CPython``, ``PyPy`` … (with the PyPy version when it is PyPy)."""
    name = platform.python_implementation()
    if name == "PyPy":
        info = sys.pypy_version_info  # type: ignore[attr-defined]
        return f"PyPy{'.'.join(str(p) for p in info[:3])}"
    return name


def isatty(fh: IO[Any]) -> bool:
    """Whether ``fh`` is a terminal (False when it cannot tell)."""
    try:
        return bool(fh.isatty())
    except (AttributeError, ValueError):
        return False


def get_fdmax(default: int | None = None) -> int | None:
    """The highest number a file descriptor may have (``default`` when unlimited)."""
    try:
        fdmax = os.sysconf("SC_OPEN_MAX")
    except (AttributeError, ValueError, OSError):
        return default
    return default if fdmax in (None, -1) else int(fdmax)


def fd_by_path(paths: Iterable[str]) -> list[int]:
    """The open file descriptors of this process that point at ``paths``."""
    wanted = {os.stat(p).st_ino for p in paths if os.path.exists(p)}
    found = []
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []:
        try:
            if os.fstat(int(name)).st_ino in wanted:
                found.append(int(name))
        except OSError:
            continue
    return found


def close_open_fds(keep: Iterable[int | IO[Any]] | None = None) -> None:
    """Close every file descriptor above 2 but those in ``keep`` (numbers or files)."""
    kept = sorted({k if isinstance(k, int) else k.fileno() for k in keep or ()} | {0, 1, 2})
    top = get_fdmax(default=2048) or 2048
    for low, high in zip(kept, [*kept[1:], top], strict=True):
        if high > low + 1:
            os.closerange(low + 1, high)


def setgid(gid: int) -> None:
    """Set the group id."""
    os.setgid(gid)


def setuid(uid: int) -> None:
    """Set the user id."""
    os.setuid(uid)


def setgroups(groups: list[int]) -> None:
    """Set the supplementary groups (cut to the system's maximum)."""
    try:
        limit = os.sysconf("SC_NGROUPS_MAX")
    except (ValueError, OSError):
        limit = len(groups)
    os.setgroups(groups[: max(limit, 0)])


def initgroups(uid: int, gid: int) -> None:
    """Set the supplementary groups of ``uid``'s user (as login does)."""
    import pwd

    os.initgroups(pwd.getpwuid(uid).pw_name, gid)


class Signals:
    """Signal handlers by name (Celery's ``platforms.signals``): ``signals["INT"] = fn``,
    ``signals.ignore("HUP")``, ``signals.reset("TERM")``, ``signals.update(USR1=fn)``."""

    ignored = _signal.SIG_IGN
    default = _signal.SIG_DFL

    def signum(self, name: int | str) -> int:
        """The number of a signal given by number or name (``TERM``/``SIGTERM``)."""
        if isinstance(name, int):
            return name
        name = name.upper()
        return int(getattr(_signal, name if name.startswith("SIG") else f"SIG{name}"))

    def supported(self, name: int | str) -> bool:
        """Whether this platform has the signal."""
        try:
            self.signum(name)
        except AttributeError:
            return False
        return True

    def __getitem__(self, name: int | str) -> Any:
        return _signal.getsignal(self.signum(name))

    def __setitem__(self, name: int | str, handler: Callable[..., Any] | int) -> None:
        _signal.signal(self.signum(name), handler)

    def update(self, _d_: dict[str, Any] | None = None, **sigmap: Any) -> None:
        """Set several handlers."""
        for name, handler in dict(_d_ or {}, **sigmap).items():
            if self.supported(name):
                self[name] = handler

    def ignore(self, *names: int | str) -> None:
        """Ignore these signals."""
        self.update({str(n): _signal.SIG_IGN for n in names})

    def reset(self, *names: int | str) -> None:
        """Restore the default handling of these signals."""
        self.update({str(n): _signal.SIG_DFL for n in names})

    def arm_alarm(self, seconds: float) -> None:
        """Send ``SIGALRM`` after ``seconds``."""
        _signal.setitimer(_signal.ITIMER_REAL, seconds)


#: The process's signal handlers by name.
signals = Signals()
