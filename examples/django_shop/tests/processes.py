"""Worker and beat processes of the shop, started with ``celeriac -A proj ...``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SHOP = Path(__file__).resolve().parents[1]
ROOT = SHOP.parents[1]


def celeriac_command(*args: str) -> list[str]:
    """``celeriac <args>`` as this interpreter runs it."""
    return [sys.executable, "-m", "celeriac", *args]


class Process:
    """A celeriac process in its own process group, its output in ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            celeriac_command(*args),
            cwd=SHOP,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.popen.poll() is not None:
                raise AssertionError(f"process exited:\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} within {timeout}s:\n{self.text()[-4000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._out.close()
        return self.popen.returncode


def shop_env(**extra: str) -> dict[str, str]:
    """The environment of a shop process: this test run's database, broker and outbox."""
    paths = [str(SHOP), str(ROOT / "src"), str(SHOP / "tests")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "it"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
