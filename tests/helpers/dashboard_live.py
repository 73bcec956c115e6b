"""A real Celery worker (``-E``) on the Redis test database and a served celeriac dashboard
watching it: what the live API tests, the browser tests and the benchmark share.

:class:`CeleryProject` writes a Celery tasks module configured for a key prefix and a
queue of its own (so parallel tests never see each other's messages or events) and starts
``celery -A <module> worker -E`` in its own process group. :class:`ServedDashboard` runs
the dashboard's ASGI app under uvicorn in a thread on a free port.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn

from celeriac import Celery
from celeriac.dashboard.context import DashboardOptions
from celeriac.dashboard.server import create_app
from helpers.processes import WorkerProcess
from helpers.services import free_port, prefix_settings, redis_cleanup, redis_client, redis_url

__all__ = ["CeleryProject", "ServedDashboard"]

TASKS = """
import time

from celery import Celery

app = Celery("dashtasks", broker=URL, backend=URL)
app.conf.update(
    task_default_queue=QUEUE,
    worker_send_task_events=True,
    task_send_sent_event=True,
    result_extended=True,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"global_keyprefix": PREFIX},
    result_backend_transport_options={"global_keyprefix": PREFIX},
)


@app.task(name="dash.add")
def add(x, y):
    return x + y


@app.task(name="dash.fail")
def fail(text):
    raise ValueError(text)


@app.task(name="dash.tsum")
def tsum(values):
    return sum(values)


@app.task(name="dash.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="dash.progress", bind=True)
def progress(self, steps, delay):
    for step in range(steps):
        self.update_state(state="PROGRESS", meta={"current": step + 1, "total": steps})
        time.sleep(delay)
    return steps
"""


class CeleryProject:
    """A Celery tasks module on a prefix and queue of its own, and its workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        tag = uuid.uuid4().hex[:10]
        self.prefix = f"dash{tag}_"
        self.queue = f"dq{tag}"
        self.url = redis_url()
        self.module_name = f"dashtasks_{tag}"
        header = f"URL = {self.url!r}\nPREFIX = {self.prefix!r}\nQUEUE = {self.queue!r}\n"
        (root / f"{self.module_name}.py").write_text(header + textwrap.dedent(TASKS))
        self.workers: list[WorkerProcess] = []
        self._module: ModuleType | None = None

    @property
    def tasks(self) -> Any:
        """The Celery tasks module, imported in this process (to send tasks)."""
        if self._module is None:
            spec = importlib.util.spec_from_file_location(
                self.module_name, self.root / f"{self.module_name}.py"
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[self.module_name] = module
            spec.loader.exec_module(module)
            self._module = module
        return self._module

    def dashboard_app(self) -> Celery:
        """A celeriac app on the same broker, prefix and default queue (the dashboard's)."""
        app = Celery("dashboard", broker=self.url, backend=self.url, **prefix_settings(self.prefix))
        app.conf.task_default_queue = self.queue
        return app

    def env(self) -> dict[str, str]:
        """The worker's environment: ours without celery/celeriac/pytest settings."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CELERY_", "CELERIAC_", "PYTEST_"))
        }
        env["PYTHONPATH"] = str(self.root)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_worker(self, name: str = "w1", concurrency: int = 2) -> WorkerProcess:
        """Start ``celery -A <module> worker -E`` and wait until it is ready."""
        logfile, output = self.root / f"{name}.log", self.root / f"{name}.out"
        command = [
            sys.executable, "-m", "celery", "-A", self.module_name, "worker", "-E",
            "-P", "prefork", "-c", str(concurrency), "-Q", self.queue,
            "-n", f"{name}-{self.queue}@%h", "--logfile", str(logfile), "-l", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with open(output, "wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        worker = WorkerProcess(proc, logfile, output)
        self.workers.append(worker)
        worker.wait_for(r"ready\.", timeout=30)
        return worker

    def close(self) -> None:
        """Kill the workers and delete every key under the prefix."""
        for worker in self.workers:
            worker.kill()
        if self._module is not None:
            self._module.app.close()
            sys.modules.pop(self.module_name, None)
        client = redis_client()
        try:
            redis_cleanup(client, self.prefix)
        finally:
            client.close()


class ServedDashboard:
    """The dashboard for ``app`` served by uvicorn in a thread on 127.0.0.1."""

    def __init__(self, app: Celery, options: DashboardOptions) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = create_app(app, options)
        config = uvicorn.Config(
            self.web, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server (the lifespan stops the background loops)."""
        self.server.should_exit = True
        self.thread.join(10)
