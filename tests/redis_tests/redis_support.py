"""A Redis server of the test's own (to stop, kill and restart), for the Redis tests.

The test database, key prefixes and the skip-or-fail rule are in ``helpers.services``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


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
