"""Helpers shared by the Redis tests and the processes they spawn (conftest cannot be
imported by name from a child process)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")
VECTORS = Path(__file__).parents[2].parent / "shared" / "celery-wire-vectors"


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def kombu_url() -> str:
    """The test database as a broker URL (kombu, Celery and celeriac alike)."""
    return f"redis://{REDIS_HOST}/{redis_db()}"


# -- a Redis server of the test's own, to stop and restart -------------------------------
@dataclass
class OwnRedis:
    """A ``redis-server`` on a free port, with AOF on (so a restart keeps the data).

    ``extra`` adds server arguments (a unix socket, TLS); with ``sentinel`` the process
    is a Sentinel (``extra`` then holds the path of its config file, first).
    """

    port: int
    directory: Path
    extra: tuple[str, ...] = ()
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        if self.sentinel:
            return [
                "redis-server",
                *self.extra,
                "--sentinel",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
            ]
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.directory),
            *self.extra,
        ]

    def start(self) -> None:
        log = open(self.directory / f"redis-{self.port}.log", "ab")
        self.process = subprocess.Popen(self._argv(), stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.port:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        client = redis.Redis(port=self.port)
                        client.ping()
                        client.close()
                    return
                time.sleep(0.3)  # TLS only: the caller checks
                return
            except (OSError, redis.exceptions.RedisError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
