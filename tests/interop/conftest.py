"""Real Celery 5.7 and celeriac processes on one Redis: producers, workers, results, restores.

Every test gets an :class:`Interop` (a directory in ``tmp_path``, a ``global_keyprefix``
and a queue name nobody else uses, on db ``1 + xdist worker index``). It writes two
tasks modules with the same task names, ``celery_tasks.py`` (``from celery import
Celery``) and ``celeriac_tasks.py`` (``from celeriac import Celery``), both configured
for that prefix and queue, and starts real ``celery … worker`` / ``celeriac … worker``
subprocesses on them. Closing it kills the workers and deletes every key under the prefix.

Redis down: the tests skip, or fail when ``CI`` is set (``helpers.services``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from helpers.processes import WorkerProcess, wait_until
from helpers.services import amqp_session_vhost, redis_cleanup, redis_client, redis_url

pytest.importorskip("celery")

#: The tasks module body both implementations share (after the header below).
TASKS = '''
_clients = {}


def r():
    """A redis-py client of this process (a new one after fork)."""
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients[os.getpid()] = redis.Redis.from_url(URL)
    return client


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.mul")
def mul(x, y):
    return x * y


@app.task(name="tasks.fail")
def fail(text):
    raise ValueError(text)


@app.task(name="tasks.tsum")
def tsum(values):
    """A chord body: the sum, and which implementation ran it."""
    r().rpush(PREFIX + "interop.tsum", IMPL)
    return sum(values)


@app.task(name="tasks.retrying", bind=True, max_retries=3)
def retrying(self, x):
    r().rpush(PREFIX + "interop.retrying", f"{IMPL} {self.request.retries} {time.time()!r}")
    if self.request.retries < 1:
        raise self.retry(countdown=1)
    return {"x": x, "retries": self.request.retries}


@app.task(name="tasks.progress", bind=True)
def progress(self, n, seconds=1.0):
    """Report a PROGRESS state, then return ``n`` after ``seconds``."""
    self.update_state(state="PROGRESS", meta={"done": n, "by": IMPL})
    time.sleep(seconds)
    return n


@app.task(name="tasks.record", bind=True, ignore_result=True)
def record(self, n):
    """Count this execution of this task id, and say which implementation ran it."""
    with r().pipeline(transaction=False) as pipe:
        pipe.hincrby(PREFIX + "interop.runs", self.request.id, 1)
        pipe.sadd(PREFIX + "interop.by." + IMPL, self.request.id)
        pipe.execute()
    return n


@app.task(name="tasks.hang", bind=True, acks_late=True)
def hang(self, seconds):
    """Sleep ``seconds`` the first time this id runs (to be killed); return the run count."""
    runs = r().hincrby(PREFIX + "interop.hang", self.request.id, 1)
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    r().rpush(PREFIX + "interop.hang.log", f"{IMPL} {os.getpid()} {runs} {redelivered}")
    if runs == 1:
        time.sleep(seconds)
    return runs
'''

HEADER = '''\
"""Interop tasks for one test, {impl} side (written by tests/interop/conftest.py)."""
import os
import time

import redis

from {impl} import Celery

IMPL = {impl!r}
URL = {url!r}
BROKER = {broker!r}
PREFIX = {prefix!r}
QUEUE = {queue!r}
RESULTS = {results!r}

app = Celery("tasks", broker=BROKER, backend=RESULTS)
app.conf.update(
    task_default_queue=QUEUE,
    result_extended=True,
    broker_connection_retry_on_startup=True,
    broker_transport_options={{
        "global_keyprefix": PREFIX,
        "visibility_timeout": float(os.environ.get("INTEROP_VISIBILITY_TIMEOUT", "3600")),
        # kombu: scan for expired leases every second, not every 10 x 10 s
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }},
    result_backend_transport_options={{"global_keyprefix": PREFIX}},
)
'''


class Interop:
    """Two tasks modules (Celery and celeriac) on one prefix and queue, and their workers."""

    def __init__(
        self, root: Path, client: redis.Redis, broker: str = "redis", results: str = ""
    ) -> None:
        self.root = root
        self.client = client
        tag = uuid.uuid4().hex[:10]
        self.prefix = f"interop{tag}_"
        self.queue = f"q{tag}"
        self.url = redis_url()
        #: the broker kind (``redis`` or ``amqp``) and URL; results in Redis unless
        #: ``results`` names another backend (``rpc://``)
        self.broker = broker
        self.broker_url = self.url if broker == "redis" else amqp_session_vhost()
        self.results = results or self.url
        self.workers: list[WorkerProcess] = []
        self._modules: dict[str, ModuleType] = {}
        for impl in ("celery", "celeriac"):
            header = HEADER.format(
                impl=impl,
                url=self.url,
                broker=self.broker_url,
                prefix=self.prefix,
                queue=self.queue,
                results=self.results,
            )
            (root / f"{impl}_tasks.py").write_text(header + textwrap.dedent(TASKS))

    # -- in-process producers -------------------------------------------------------------
    def tasks(self, impl: str) -> ModuleType:
        """The ``celery`` or ``celeriac`` tasks module, imported in this process."""
        module = self._modules.get(impl)
        if module is None:
            name = f"interop_{impl}_tasks_{self.prefix.rstrip('_')}"
            spec = importlib.util.spec_from_file_location(name, self.root / f"{impl}_tasks.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._modules[impl] = module
        return module

    # -- workers ----------------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CELERY_", "CELERIAC_", "PYTEST_", "INTEROP_"))
        }
        paths = [str(self.root), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def start_worker(
        self,
        impl: str,
        pool: str = "prefork",
        concurrency: int = 2,
        *,
        visibility_timeout: float | None = None,
        wait: bool = True,
    ) -> WorkerProcess:
        """Start ``celery``/``celeriac -A <impl>_tasks worker`` on the queue, in its own group."""
        tag = f"{impl}{len(self.workers) + 1}"
        logfile, output = self.root / f"{tag}.log", self.root / f"{tag}.out"
        command = [
            sys.executable,
            "-m",
            impl,
            "-A",
            f"{impl}_tasks",
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "-Q",
            self.queue,
            "-n",
            f"{tag}-{self.queue}@%h",
            "--logfile",
            str(logfile),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        command += ["-l", "INFO"] if impl == "celery" else ["--loglevel", "INFO"]
        extra = {}
        if visibility_timeout is not None:
            extra["INTEROP_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        with open(output, "wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env(extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        worker = WorkerProcess(proc, logfile, output)
        self.workers.append(worker)
        if wait:
            worker.wait_for(r"ready\.", timeout=30)
        return worker

    # -- state ----------------------------------------------------------------------------
    def key(self, name: str) -> str:
        return self.prefix + name

    def wait(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        """:func:`wait_until`, with every worker's log in the failure message."""
        return wait_until(
            predicate,
            timeout=timeout,
            interval=0.05,
            message=lambda: f"{what}\n" + "\n".join(w.describe() for w in self.workers),
        )

    def logs(self) -> str:
        return "\n".join(w.describe() for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        for module in self._modules.values():
            try:
                module.app.close()
            except Exception:
                pass
        for name in list(sys.modules):
            if name.startswith("interop_") and name.endswith(self.prefix.rstrip("_")):
                del sys.modules[name]
        redis_cleanup(self.client, self.prefix)


@pytest.fixture(scope="module", params=["redis", "amqp"])
def interop_broker(request: pytest.FixtureRequest) -> str:
    """The broker the module's Celery and celeriac sides share (results stay in Redis).

    A module whose tests are about one broker overrides this fixture.
    """
    return str(request.param)


@pytest.fixture
def interop(tmp_path: Path, interop_broker: str) -> Iterator[Interop]:
    """A fresh prefix, queue and pair of tasks modules for one test."""
    client = redis_client()
    env = Interop(tmp_path, client, interop_broker)
    try:
        yield env
    finally:
        env.close()
        client.close()


@pytest.fixture(scope="module")
def module_interop(
    tmp_path_factory: pytest.TempPathFactory, interop_broker: str
) -> Iterator[Interop]:
    """Like ``interop`` but shared by a module's tests (to start its workers once)."""
    client = redis_client()
    env = Interop(tmp_path_factory.mktemp("interop"), client, interop_broker)
    try:
        yield env
    finally:
        env.close()
        client.close()
