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
    """A ``redis-server`` on a free port, with AOF on (so a restart keeps the data)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    client = redis.Redis(port=self.port)
                    client.ping()
                    client.close()
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
