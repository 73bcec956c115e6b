"""``celeriac.contrib.rdb``: a task stops at ``set_trace()``; a TCP client debugs it."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from helpers.processes import Project, wait_until

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

BODY = """
@app.task(name="rdb.debugged")
def debugged(x):
    from celeriac.contrib import rdb

    secret = x * 7
    rdb.set_trace()
    return secret + 1
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(conn: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_task_waits_in_the_remote_debugger(tmp_path: Path) -> None:
    port = _free_port()
    with Project(tmp_path, BODY) as project:
        worker = project.start_worker(
            pool="threads", env={"CELERY_RDB_PORT": str(port)}, name="rdb"
        )
        result = project.producer().send_task("rdb.debugged", (6,))
        banner = wait_until(
            lambda: re.search(r"Remote Debugger:(\d+): Ready to connect", worker.output()), 30
        )
        assert banner is not None
        with socket.create_connection(("127.0.0.1", int(banner.group(1))), timeout=10) as conn:
            _read_until(conn, b"(Pdb)")
            conn.sendall(b"p secret\n")
            assert b"42" in _read_until(conn, b"(Pdb)")
            conn.sendall(b"c\n")
        assert result.get(timeout=20) == 43
        assert "Session with" in worker.output()
