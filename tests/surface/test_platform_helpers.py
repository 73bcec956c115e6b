"""Celery's ``celery.platforms`` helpers in ``celeriac.platforms``."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from celeriac import platforms


def test_names_codes_and_errno() -> None:
    assert (platforms.EX_OK, platforms.EX_FAILURE, platforms.EX_USAGE) == (0, 1, 64)
    assert platforms.signal_name(signal.SIGTERM) == "TERM"
    assert platforms.SIGMAP[signal.SIGINT] == "SIGINT"
    assert platforms.get_errno_name(errno.ENOENT) == "ENOENT"
    with platforms.ignore_errno("ENOENT"):
        os.unlink("/nonexistent/celeriac-file")
    with pytest.raises(PermissionError), platforms.ignore_errno(errno.ENOENT):
        raise PermissionError(errno.EACCES, "denied")
    assert platforms.pyimplementation() in ("CPython", "PyPy") or platforms.pyimplementation()
    assert platforms.isatty(io.StringIO()) is False
    assert (platforms.get_fdmax(default=10) or 0) >= 10
    assert platforms.SYSTEM == "Linux"


def test_fd_by_path_and_signals(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    with open(path) as handle:
        assert handle.fileno() in platforms.fd_by_path([str(path)])
    got: list[int] = []
    previous = platforms.signals["USR1"]
    try:
        platforms.signals["USR1"] = lambda signum, frame: got.append(signum)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert got == [signal.SIGUSR1]
        platforms.signals.ignore("USR1")
        assert platforms.signals["SIGUSR1"] is signal.SIG_IGN
        platforms.signals.reset("USR1")
        assert platforms.signals["USR1"] is signal.SIG_DFL
        assert platforms.signals.supported("TERM") and not platforms.signals.supported("NOPE")
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_close_open_fds_keeps_what_it_is_told(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from celeriac.platforms import close_open_fds\n"
        f"a = os.open({str(tmp_path / 'a')!r}, os.O_CREAT | os.O_WRONLY)\n"
        f"b = os.open({str(tmp_path / 'b')!r}, os.O_CREAT | os.O_WRONLY)\n"
        "close_open_fds(keep=[a])\n"
        "os.fstat(a)\n"
        "try:\n    os.fstat(b)\nexcept OSError:\n    print('closed')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "closed", out.stderr


def test_current_pid_follows_a_fork() -> None:
    from celeriac.utils.process import current_pid

    assert current_pid() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports what it sees, then leaves at once
        os.write(write, f"{current_pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen, real = os.read(read, 64).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert seen == real == str(child)
    assert current_pid() == os.getpid()
