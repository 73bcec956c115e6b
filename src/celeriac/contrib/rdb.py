"""Remote debugger for tasks (Celery's ``celery.contrib.rdb``).

Call :func:`set_trace` in a task: the worker logs ``Remote Debugger:6900: Ready to
connect: telnet 127.0.0.1 6900`` and waits; ``telnet`` (or ``nc``) to that port gives a
``pdb`` session in the task. ``c``/``continue`` or ``exit``/``q`` end it. The address
comes from ``CELERY_RDB_HOST`` (default ``127.0.0.1``) and ``CELERY_RDB_PORT``
(default 6899; the next free port is taken, offset by the pool process number).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from multiprocessing import current_process
from pdb import Pdb
from types import FrameType
from typing import IO, Any

__all__ = ["CELERY_RDB_HOST", "CELERY_RDB_PORT", "DEFAULT_PORT", "Rdb", "debugger", "set_trace"]

DEFAULT_PORT = 6899
CELERY_RDB_HOST = os.environ.get("CELERY_RDB_HOST") or "127.0.0.1"
CELERY_RDB_PORT = int(os.environ.get("CELERY_RDB_PORT") or DEFAULT_PORT)

BANNER = """\
{self.ident}: Ready to connect: telnet {self.host} {self.port}

Type `exit` in session to continue.

{self.ident}: Waiting for client...
"""
SESSION_STARTED = "{self.ident}: Now in session with {self.remote_addr}."
SESSION_ENDED = "{self.ident}: Session with {self.remote_addr} ended."
NO_AVAILABLE_PORT = """\
{self.ident}: Couldn't find an available port.

Please specify one using the CELERY_RDB_PORT environment variable.
"""

_current: list[Rdb | None] = [None]


class Rdb(Pdb):
    """A ``pdb`` whose console is a TCP connection (one client, then it ends)."""

    me = "Remote Debugger"

    def __init__(
        self,
        host: str = CELERY_RDB_HOST,
        port: int = CELERY_RDB_PORT,
        port_search_limit: int = 100,
        port_skew: int = +0,
        out: IO[str] | None = None,
    ) -> None:
        self.active = True
        self.out = out if out is not None else sys.stdout
        self._prev_handles = sys.stdin, sys.stdout
        self.ident = f"{self.me}:{port}"
        self.host = host
        self._sock, self.port = self.get_avail_port(host, port, port_search_limit, port_skew)
        self._sock.listen(1)
        self.ident = f"{self.me}:{self.port}"
        self.say(BANNER.format(self=self))
        self._client, address = self._sock.accept()
        self.remote_addr = ":".join(str(v) for v in address)
        self.say(SESSION_STARTED.format(self=self))
        self._handle: Any = self._client.makefile("rw")
        sys.stdin = sys.stdout = self._handle
        super().__init__(completekey="tab", stdin=self._handle, stdout=self._handle)

    def get_avail_port(
        self, host: str, port: int, search_limit: int = 100, skew: int = +0
    ) -> tuple[socket.socket, int]:
        """A listening socket on the first free port from ``port`` (plus the pool
        process number, so each child of a prefork pool has its own)."""
        try:
            skew = int(current_process().name.split("-")[1])
        except (IndexError, ValueError):
            pass
        for offset in range(search_limit):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            this_port = port + skew + offset
            try:
                sock.bind((host, this_port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EINVAL):
                    continue
                raise
            return sock, this_port
        raise OSError(NO_AVAILABLE_PORT.format(self=self))

    def say(self, m: str) -> None:
        """Print to the worker's output (not to the session)."""
        print(m, file=self.out, flush=True)

    def __enter__(self) -> Rdb:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_session()

    def _close_session(self) -> None:
        self.stdin, self.stdout = sys.stdin, sys.stdout = self._prev_handles
        if self.active:
            for closable in (self._handle, self._client, self._sock):
                try:
                    closable.close()
                except OSError:
                    pass
            self.active = False
            self.say(SESSION_ENDED.format(self=self))

    def do_continue(self, arg: str) -> bool:
        """End the session and let the task go on."""
        self._close_session()
        self.set_continue()
        return True

    do_c = do_cont = do_continue

    def do_quit(self, arg: str) -> bool:
        """End the session; the task goes on without the debugger."""
        self._close_session()
        self.set_quit()
        return True

    do_q = do_exit = do_quit

    def set_quit(self) -> None:
        """Stop tracing (pdb's ``BdbQuit`` would fail the task)."""
        sys.settrace(None)


def debugger() -> Rdb:
    """The active debugger of this process (a new one waits for a client)."""
    rdb = _current[0]
    if rdb is None or not rdb.active:
        rdb = _current[0] = Rdb()
    return rdb


def set_trace(frame: FrameType | None = None) -> None:
    """Break into the remote debugger at the caller's frame (or ``frame``)."""
    if frame is None:
        frame = sys._getframe().f_back
    debugger().set_trace(frame)
