"""Real ``celeriac -A <module> worker`` subprocesses over a throwaway project in ``tmp_path``.

A :class:`Project` writes a tasks module (``tasks.py`` by default) whose app uses a
SQLite file of its own as broker and result store, starts workers and CLI commands
with ``cwd`` and ``PYTHONPATH`` set to the project directory, and kills every process
group it started when it is closed. Producers in the test process talk to the same
file through :meth:`Project.producer` and send tasks by name. A :class:`RedisProject`
is the same on the Redis test database under a key prefix of its own;
:func:`project_on` makes either.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psutil

from celeriac import Celery
from helpers.services import redis_keyspace, redis_url

__all__ = [
    "PROCESS_TRANSPORTS",
    "Project",
    "RedisProject",
    "WorkerProcess",
    "pids_of",
    "project_on",
    "wait_until",
]

T = TypeVar("T")

HEADER = '''\
"""Tasks for one test (written by tests/helpers/processes.py)."""
import os
import signal
import sys
import time
from pathlib import Path

from celeriac import Celery

BROKER = {broker!r}
app = Celery({main!r}, broker=BROKER, backend=BROKER)
app.conf.update({settings!r})


def mark(name, text=""):
    """Append one line (pid and text) to the file ``name`` in the project directory."""
    fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{{os.getpid()}} {{text}}\\n".encode())
    finally:
        os.close(fd)

'''


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        time.sleep(interval)


class WorkerProcess:
    """One worker started by :meth:`Project.start_worker` (its own process group)."""

    def __init__(self, proc: subprocess.Popen[bytes], logfile: Path, output: Path) -> None:
        self.proc = proc
        self.logfile = logfile
        self.output_file = output

    @property
    def pid(self) -> int:
        """The worker's main (parent) process id."""
        return self.proc.pid

    def log(self) -> str:
        """Everything the worker logged so far (``--logfile``)."""
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        """What the worker wrote to stdout and stderr (the banner, crashes)."""
        try:
            return self.output_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        """Log and output, for assertion messages."""
        return (
            f"--- worker output ---\n{self.output()[-4000:]}\n"
            f"--- worker log ---\n{self.log()[-6000:]}"
        )

    def lines(self, pattern: str) -> list[str]:
        """Log lines matching the regular expression ``pattern``."""
        regex = re.compile(pattern)
        return [line for line in self.log().splitlines() if regex.search(line)]

    def wait_for(self, pattern: str, timeout: float = 10.0, count: int = 1) -> list[str]:
        """Wait until ``count`` log lines match ``pattern``; return them."""

        def found() -> list[str] | None:
            matched = self.lines(pattern)
            if len(matched) >= count:
                return matched
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}) before logging "
                    f"{pattern!r}\n{self.describe()}"
                )
            return None

        return wait_until(
            found,
            timeout,
            0.02,
            lambda: f"{count} log line(s) matching {pattern!r}\n{self.describe()}",
        )

    def processes(self) -> list[psutil.Process]:
        """The worker's parent process and its live children."""
        try:
            parent = psutil.Process(self.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def child_pids(self) -> list[int]:
        """Pids of the worker's pool children."""
        return [proc.pid for proc in self.processes()[1:]]

    def send(self, signum: int) -> None:
        """Send a signal to the worker's main process."""
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the worker to exit; return its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker did not exit within {timeout}s\n{self.describe()}"
            ) from None

    def stop(self, timeout: float = 15.0) -> int:
        """Warm shutdown (SIGTERM) and wait for the exit code."""
        if self.proc.poll() is None:
            self.send(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (parent and children) and reap the parent."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


class Project:
    """A tasks module plus a SQLite broker file in a directory of its own.

    Args:
        root: the directory (``tmp_path``).
        body: the module source after the header (which defines ``app`` and ``mark``).
        module: the module name; task names are ``<module>.<function>``.
        settings: extra ``app.conf`` settings for the worker's app.
    """

    def __init__(
        self,
        root: Path,
        body: str = "",
        *,
        module: str = "tasks",
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.module = module
        self.db = root / f"broker-{uuid.uuid4().hex[:8]}.db"
        self.broker_url = f"sqlite:///{self.db}"
        self.workers: list[WorkerProcess] = []
        self.others: list[subprocess.Popen[bytes]] = []
        self._apps: list[Celery] = []
        self.write_module(body, settings)

    def write_module(self, body: str, settings: dict[str, Any] | None = None) -> None:
        """(Re)write the tasks module."""
        header = HEADER.format(
            broker=self.broker_url, main=self.module, settings=dict(settings or {})
        )
        (self.root / f"{self.module}.py").write_text(header + textwrap.dedent(body))

    def path(self, name: str) -> Path:
        """A file in the project directory."""
        return self.root / name

    def read_lines(self, name: str) -> list[str]:
        """The lines of a marker file (``[]`` when it does not exist yet)."""
        try:
            return self.path(name).read_text().splitlines()
        except FileNotFoundError:
            return []

    # -- in-process producers ----------------------------------------------------------
    def producer(self, **settings: Any) -> Celery:
        """An app on the project's broker, for sending by name and reading results."""
        app = Celery("producer", broker=self.broker_url, backend=self.broker_url, **settings)
        self._apps.append(app)
        return app

    # -- subprocesses --------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every subprocess: the project on ``PYTHONPATH``."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CELERY_", "CELERIAC_", "PYTEST_"))
        }
        paths = [str(self.root), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def start_worker(
        self,
        *args: str,
        pool: str = "prefork",
        concurrency: int = 1,
        loglevel: str = "INFO",
        wait: bool = True,
        name: str | None = None,
        app: str | None = None,
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        """Start ``celeriac -A <module> worker`` in its own process group.

        Waits for the ``ready.`` log line unless ``wait`` is false.
        """
        tag = name or f"w{len(self.workers) + 1}"
        logfile = self.root / f"{tag}.log"
        output = self.root / f"{tag}.out"
        command = [
            sys.executable,
            "-m",
            "celeriac",
            "-A",
            app or self.module,
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "--loglevel",
            loglevel,
            "--logfile",
            str(logfile),
            *args,
        ]
        with open(output, "wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        worker = WorkerProcess(proc, logfile, output)
        self.workers.append(worker)
        if wait:
            worker.wait_for(r"ready\.", timeout=15)
        return worker

    def celeriac(
        self, *args: str, timeout: float = 30.0, app: str | None = "", input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a ``celeriac`` command to completion (``-A <module>`` unless ``app=None``)."""
        spec = self.module if app == "" else app
        prefix = ["-A", spec] if spec else []
        return subprocess.run(
            [sys.executable, "-m", "celeriac", *prefix, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            start_new_session=True,
        )

    def spawn_python(self, source: str, *argv: str) -> subprocess.Popen[bytes]:
        """Start ``python script.py argv...`` in the project directory (killed at close)."""
        script = self.root / f"script_{uuid.uuid4().hex[:6]}.py"
        script.write_text(textwrap.dedent(source))
        proc = subprocess.Popen(
            [sys.executable, str(script), *argv],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.others.append(proc)
        return proc

    def close(self) -> None:
        """Kill every process group started here and close the producer apps."""
        for worker in self.workers:
            worker.kill()
        for proc in self.others:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        for app in self._apps:
            app.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Lines a Redis project's tasks module gets after the header (which defines ``app``).
REDIS_PREAMBLE = '''\
import redis

STORE_URL = {store_url!r}
PREFIX = {prefix!r}
_clients = {{}}


def store():
    """A client of the main test Redis for this process (a new one after fork)."""
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients[os.getpid()] = redis.Redis.from_url(STORE_URL)
    return client

'''


class RedisProject(Project):
    """A tasks module whose app uses Redis (``url``) as broker and result backend.

    Args:
        root: the directory (``tmp_path``).
        url: the broker and backend URL (the main test database or a private server).
        prefix: ``global_keyprefix`` of broker and backend, and of ``store()`` keys.
        queue: ``task_default_queue`` (unique per test).
        transport_options: extra ``broker_transport_options``.
        settings: extra ``app.conf`` settings for the worker's app and the producers.
    """

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        prefix: str,
        queue: str,
        transport_options: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.prefix = prefix
        self.queue = queue
        self.base_settings: dict[str, Any] = {
            "task_default_queue": queue,
            "broker_transport_options": {"global_keyprefix": prefix, **(transport_options or {})},
            "result_backend_transport_options": {"global_keyprefix": prefix},
            **(settings or {}),
        }
        super().__init__(root)
        self.broker_url = url  # Project made up a SQLite file name; rewrite for Redis
        self.write_module("")

    def write_module(self, body: str = "", settings: dict[str, Any] | None = None) -> None:
        """(Re)write the tasks module: header, ``store()`` preamble, then ``body``."""
        preamble = REDIS_PREAMBLE.format(store_url=redis_url(), prefix=self.prefix)
        super().write_module(
            preamble + textwrap.dedent(body), {**self.base_settings, **(settings or {})}
        )

    def producer(self, **settings: Any) -> Any:
        """An app on the project's broker, prefix and queue (for send_task and results)."""
        return super().producer(**{**self.base_settings, **settings})

    def key(self, name: str) -> str:
        """A key of the main test Redis under this test's prefix."""
        return self.prefix + name


#: The broker kinds a project can use: the ones that cross processes (memory does not).
PROCESS_TRANSPORTS: tuple[str, ...] = ("sqlite", "redis")


@contextmanager
def project_on(kind: str, root: Path, body: str = "") -> Iterator[Project]:
    """A :class:`Project` on ``kind`` (one of :data:`PROCESS_TRANSPORTS`), closed at the end.

    On Redis it is a :class:`RedisProject` on the test database with a key prefix of its
    own (deleted afterwards) and Celery's default queue, ``celery``.
    """
    if kind == "sqlite":
        with Project(root, body) as project:
            yield project
    elif kind == "redis":
        with redis_keyspace("pr") as space:
            redis_project = RedisProject(root, space.url, prefix=space.prefix, queue="celery")
            with redis_project:
                redis_project.write_module(body)
                yield redis_project
    else:
        raise AssertionError(f"unknown project kind {kind!r} (known: {PROCESS_TRANSPORTS})")


def pids_of(lines: Iterable[str]) -> list[int]:
    """The pid at the start of each marker line."""
    return [int(line.split()[0]) for line in lines if line.strip()]
