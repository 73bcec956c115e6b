"""Process helpers for running as a daemon (``celery.platforms``): pid files, detaching,
dropping privileges.

``detached()`` forks twice so the worker or beat runs on with no terminal (``-D``), in a
new session, with the given umask and working directory and stdio on ``/dev/null``;
:class:`Pidfile` keeps one process per pid file and removes stale ones.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from celeriac.utils.process import (
    EX_FAILURE,
    EX_OK,
    EX_UNAVAILABLE,
    EX_USAGE,
    SIGMAP,
    SYSTEM,
    Signals,
    close_open_fds,
    fd_by_path,
    get_errno_name,
    get_fdmax,
    ignore_errno,
    initgroups,
    isatty,
    pyimplementation,
    setgid,
    setgroups,
    setuid,
    signal_name,
    signals,
)

__all__ = [
    "EX_FAILURE",
    "EX_OK",
    "EX_UNAVAILABLE",
    "EX_USAGE",
    "SIGMAP",
    "SYSTEM",
    "Signals",
    "close_open_fds",
    "fd_by_path",
    "get_errno_name",
    "get_fdmax",
    "ignore_errno",
    "initgroups",
    "isatty",
    "pyimplementation",
    "set_mp_process_title",
    "setgid",
    "setgroups",
    "setuid",
    "signal_name",
    "signals",
    "IS_WINDOWS",
    "IS_macOS",
    "LockFailed",
    "Pidfile",
    "create_pidlock",
    "detached",
    "maybe_drop_privileges",
    "parse_gid",
    "parse_uid",
    "pid_alive",
    "set_process_title",
]

IS_macOS = sys.platform == "darwin"
IS_WINDOWS = sys.platform == "win32"


class LockFailed(Exception):
    """The pid file names a running process."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (a zombie waiting to be reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a daemon whose parent (init in a container) does not reap it
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class Pidfile:
    """A pid file: ``acquire()`` writes ours, ``release()`` removes it."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def read_pid(self) -> int | None:
        """The pid in the file, ``None`` when there is no file.

        Raises:
            ValueError: the file does not hold a pid.
        """
        try:
            with open(self.path) as handle:
                text = handle.readline().strip()
        except FileNotFoundError:
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"pid file {self.path} holds no pid: {text!r}") from None

    def remove(self) -> None:
        """Delete the file (missing is fine)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def remove_if_stale(self) -> bool:
        """Delete the file when its process is gone (or it holds garbage); True if removed."""
        try:
            pid = self.read_pid()
        except ValueError:
            self.remove()
            return True
        if pid is None:
            return True
        if pid == os.getpid() or not pid_alive(pid):
            self.remove()
            return True
        return False

    def is_locked(self) -> bool:
        """Whether the file exists."""
        return os.path.exists(self.path)

    def write_pid(self) -> None:
        """Write this process's pid (created exclusively, flushed to disk)."""
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
        fd = os.open(self.path, flags, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())

    def acquire(self) -> Pidfile:
        """Write our pid, replacing a stale file.

        Raises:
            LockFailed: the file names a running process.
        """
        if self.is_locked() and not self.remove_if_stale():
            raise LockFailed(f"pid file {self.path} names a running process ({self.read_pid()})")
        try:
            self.write_pid()
        except FileExistsError:
            raise LockFailed(f"pid file {self.path} was created by another process") from None
        return self

    __enter__ = acquire

    def release(self, *args: object) -> None:
        """Remove the file if it still holds our pid."""
        try:
            if self.read_pid() == os.getpid():
                self.remove()
        except ValueError:
            pass

    __exit__ = release


def create_pidlock(pidfile: str) -> Pidfile:
    """Acquire ``pidfile`` for this process and release it at exit."""
    import atexit

    lock = Pidfile(pidfile).acquire()
    atexit.register(lock.release)
    return lock


def parse_uid(uid: str | int) -> int:
    """A user id from a number or a user name.

    Raises:
        KeyError: no such user.
    """
    try:
        return int(uid)
    except ValueError:
        return pwd.getpwnam(str(uid)).pw_uid


def parse_gid(gid: str | int) -> int:
    """A group id from a number or a group name.

    Raises:
        KeyError: no such group.
    """
    try:
        return int(gid)
    except ValueError:
        return grp.getgrnam(str(gid)).gr_gid


def maybe_drop_privileges(uid: str | int | None = None, gid: str | int | None = None) -> None:
    """Switch to ``uid``/``gid`` (group first; the user's groups too) when given."""
    if gid is not None:
        os.setgid(parse_gid(gid))
    if uid is not None:
        user = parse_uid(uid)
        try:
            name = pwd.getpwuid(user).pw_name
            os.initgroups(name, parse_gid(gid) if gid is not None else pwd.getpwuid(user).pw_gid)
        except (KeyError, PermissionError):
            pass
        os.setuid(user)


def set_process_title(progname: str, info: str | None = None) -> str:
    """Set the process title when ``setproctitle`` is installed; return the title."""
    title = f"[{progname}] {info}" if info else f"[{progname}]"
    try:
        from setproctitle import setproctitle  # type: ignore[import-not-found]
    except ImportError:
        return title
    setproctitle(title)
    return title


def set_mp_process_title(
    progname: str, info: str | None = None, hostname: str | None = None
) -> str:
    """Set a pool process's title: ``[progname:<process name>] info`` (with ``hostname``)."""
    from multiprocessing import current_process

    name = f"{progname}:{current_process().name}"
    if hostname:
        name = f"{name} {hostname}"
    return set_process_title(name, info=info)


def _redirect_stdio(logfile: str | None) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if logfile:  # stdout/stderr (a crash before logging is set up) to the log file
        out = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)


@contextmanager
def detached(
    logfile: str | None = None,
    pidfile: str | None = None,
    uid: str | int | None = None,
    gid: str | int | None = None,
    umask: int | str | None = 0,
    workdir: str | None = None,
    fake: bool = False,
) -> Iterator[None]:
    """Run the block in a daemon: the calling process exits 0 once the daemon is forked.

    The daemon is a grandchild in a new session, with ``umask``, ``workdir`` (default:
    the current directory) and stdio on ``/dev/null`` (stdout/stderr appended to
    ``logfile``), running as ``uid``/``gid`` when given. ``fake`` runs the block in this
    process (tests, ``--detach`` under a supervisor).

    Raises:
        LockFailed: ``pidfile`` names a running process (checked before forking).
    """
    if pidfile and Pidfile(pidfile).is_locked() and not Pidfile(pidfile).remove_if_stale():
        raise LockFailed(f"pid file {pidfile} names a running process")
    if not fake:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        os.chdir(workdir or os.getcwd())
        os.umask(int(umask, 8) if isinstance(umask, str) else int(umask or 0))
        _flush_std()
        _redirect_stdio(logfile)
    maybe_drop_privileges(uid=uid, gid=gid)
    yield


def _flush_std() -> None:
    streams: tuple[IO[str] | None, ...] = (sys.stdout, sys.stderr)
    for stream in streams:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError) as exc:
            if getattr(exc, "errno", None) not in (None, errno.EBADF, errno.EPIPE):
                raise
