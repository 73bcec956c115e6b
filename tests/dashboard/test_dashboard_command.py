"""``celeriac dashboard``: refuses a public address without credentials, serves with them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpers.services import free_port

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celeriac", "-b", "memory://", "dashboard", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_public_address_without_credentials_is_refused(tmp_path: Path) -> None:
    result = run("--address", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "refusing to serve the dashboard on 0.0.0.0 without authentication" in result.stderr
    bad = run("--basic-auth", "nocolon", cwd=tmp_path)
    assert bad.returncode == 1 and "user:password" in bad.stderr


def test_the_command_serves_with_credentials(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "celeriac", "-b", "memory://", "dashboard", "--port", str(port),
         "--basic-auth", "admin:pw", "--read-only-auth", "ro:pw", "--db", str(tmp_path / "h.db"),
         "--seed", "0", "-l", "warning"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
                time.sleep(0.1)
        assert httpx.get(url + "/api/v1/tasks").status_code == 401
        assert httpx.get(url + "/api/v1/tasks", auth=("admin", "pw")).status_code == 200
        assert httpx.get(url + "/api/v1/me", auth=("ro", "pw")).json()["can_act"] is False
        assert httpx.get(url + "/static/app.js", auth=("ro", "pw")).status_code == 200
        assert (tmp_path / "h.db").exists()
    finally:
        proc.terminate()
        proc.wait(15)
