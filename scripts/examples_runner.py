"""Run Celery's example projects (from its sdist) with ``celery`` answered by ``celeriac``.

Used by ``scripts/celery_integration.py --examples``. Each example runs unchanged: its
worker is started the way its docstring or README says (``python myapp.py worker`` or
``celeriac -A proj worker``) on the broker the example names (``amqp://`` on the local
RabbitMQ); an example whose results are off or on ``rpc://`` gets ``--result-backend`` on
Redis, and one whose broker is Redis database 0 gets the run's own database (``-b``), so
nothing else on the machine takes its tasks. A driver (a script that imports the example,
or ``manage.py shell -c`` for Django) calls its tasks and checks the answers; some
examples also check what the worker logged. Only the runner's set-up steps touch the
example's directory (``manage.py migrate``, the certificate its README says to make).
The examples themselves are listed in ``examples_catalog.py``. Prints one line per
example (``ok``, ``FAILED: why``, or ``skipped: why``) and returns the number that failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Example", "Run", "run_all"]


@dataclass
class Run:
    """What one example run knows: the example's directory, its environment, the URLs."""

    cwd: Path
    env: dict[str, str]
    backend: str
    log: Path


@dataclass
class Example:
    """One example: where it lives, how its worker starts, what the driver checks.

    ``worker``/``beat``: the arguments after ``python`` (``-m celeriac ...`` or
    ``myapp.py ...``). ``driver``: Python code run in the example's directory (its first
    line imports the example); with ``shell`` it is given to that command instead
    (``manage.py shell -c``). ``backend``: results go to the run's Redis database (else the
    example's own backend is kept). ``broker``: the broker too. ``expect``: strings the
    worker's log must show. ``prepare``: a set-up step, which may answer why the example is
    skipped; ``cleanup``: a step after it. ``expect_exit``: the worker must exit with this
    in its log.
    """

    name: str
    directory: str
    worker: list[str]
    driver: str = ""
    beat: list[str] | None = None
    backend: bool = True
    broker: bool = False
    shell: list[str] | None = None
    expect: tuple[str, ...] = ()
    prepare: Callable[[Run], str | None] | None = None
    cleanup: Callable[[Run], str | None] | None = None
    expect_exit: str = ""
    timeout: float = 120
    extra_path: list[Path] = field(default_factory=list)
    #: False: the example must stay on RabbitMQ's ``/`` vhost (its code names it)
    own_vhost: bool = True


def _env(example: Example, paths: list[Path], backend: str, amqp: str | None) -> dict[str, str]:
    """The example's environment. ``CELERY_BROKER_URL`` wins over the example's own broker
    setting (as in Celery): the run's Redis database for an example moved to Redis, the
    run's own RabbitMQ vhost (``amqp``) for one on ``amqp://``, so examples run side by
    side never take each other's tasks from the ``celery`` queue of ``/``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, paths)))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("CELERY_BROKER_URL", None)
    if example.broker:
        env["CELERY_BROKER_URL"] = backend
    elif amqp and example.own_vhost:
        env["CELERY_BROKER_URL"] = amqp
    return env


def _overrides(example: Example, backend: str) -> list[str]:
    """The global options that point the example at the run's Redis database."""
    options = ["--result-backend", backend] if example.backend else []
    return options + (["-b", backend] if example.broker else [])


def _start(args: list[str], example: Example, run: Run, log: Path) -> Any:
    overrides = _overrides(example, run.backend)
    if args[0] == "-m":  # celeriac -A ... worker: the global options go first
        command = [sys.executable, "-m", "celeriac", *overrides, *args[2:]]
    else:  # python myapp.py worker: app.start() reads the same options
        command = [sys.executable, args[0], *overrides, *args[1:]]
    handle = open(log, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=run.cwd, env=run.env, stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _driver_command(example: Example, backend: str) -> list[str]:
    if example.shell is not None:
        return [sys.executable, *example.shell, example.driver]
    first, *rest = example.driver.splitlines()
    settings = {}
    if example.backend:
        settings["result_backend"] = backend  # (the broker comes from CELERY_BROKER_URL)
    code = "\n".join([
        first,
        "from celeriac.app.shared import registered_apps",
        f"for app in registered_apps: app.conf.update({settings!r})",
        *rest,
    ])  # fmt: skip
    return [sys.executable, "-c", code]


def _wait_for(log: Path, texts: tuple[str, ...], seconds: float) -> str | None:
    """None once the log shows every text, else the first one missing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        shown = log.read_text(errors="replace")
        missing = [text for text in texts if text not in shown]
        if not missing:
            return None
        if time.monotonic() > deadline:
            return f"the worker never logged {missing[0]!r}"
        time.sleep(0.5)


def _wait_ready(log: Path, proc: Any, seconds: float = 30) -> None:
    """Until the worker printed its task list (or exited, or ``seconds`` passed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if "[tasks]" in log.read_text(errors="replace"):
            time.sleep(1.5)  # the consumer starts after the banner
            return
        time.sleep(0.3)


def _expect_exit(example: Example, proc: Any, log: Path) -> str | None:
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return f"the worker kept running (expected it to stop: {example.expect_exit})"
    if example.expect_exit not in log.read_text(errors="replace"):
        return f"the worker exited without {example.expect_exit!r} in its log"
    return None


def _drive(example: Example, run: Run) -> str | None:
    if example.driver:
        command = _driver_command(example, run.backend)
        driven = subprocess.run(command, cwd=run.cwd, env=run.env, capture_output=True,
                                text=True, timeout=example.timeout)  # fmt: skip
        if driven.returncode != 0:
            lines = (driven.stderr.strip() or driven.stdout.strip()).splitlines()
            return (lines or ["failed"])[-1]
    return _wait_for(run.log, example.expect, 40)


def _stop(proc: Any) -> None:
    """TERM the process group; KILL it when a task keeps the warm shutdown waiting."""
    for signal, wait in ((15, 20), (9, 10)):
        try:
            os.killpg(proc.pid, signal)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(
    example: Example, root: Path, alias: Path, src: Path, backend: str, amqp: str | None = None
) -> str | None:
    """Run one example; ``None`` when it passed, ``"skipped: ..."``, else what went wrong.

    ``amqp``: a RabbitMQ URL (a vhost of the run's own) for the examples on ``amqp://``.
    """
    cwd = root / example.directory
    log = Path(f"/tmp/celeriac-example-{example.name}.log")
    paths = [alias, cwd, src, *example.extra_path]
    run = Run(cwd, _env(example, paths, backend, amqp), backend, log)
    if example.prepare is not None:
        problem = example.prepare(run)
        if problem:
            return problem
    procs = [_start(example.worker, example, run, log)]
    if example.beat:
        beat_log = Path(f"/tmp/celeriac-example-{example.name}-beat.log")
        procs.append(_start(example.beat, example, run, beat_log))
    try:
        if example.expect_exit:
            return _expect_exit(example, procs[0], log)
        _wait_ready(log, procs[0])
        if procs[0].poll() is not None:
            return f"the worker exited ({procs[0].returncode}); see {log}"
        return _drive(example, run)
    finally:
        for proc in procs:
            _stop(proc)
        if example.cleanup is not None:
            example.cleanup(run)


def run_all(
    root: Path,
    alias: Path,
    src: Path,
    backend: str,
    only: list[str] | None = None,
    amqp: str | None = None,
) -> int:
    """Run every example (or those named in ``only``); print one line each; the failures."""
    from examples_catalog import EXAMPLES, OUT_OF_SCOPE

    failed = 0
    for example in EXAMPLES:
        if only and example.name not in only:
            continue
        problem = run_one(example, root, alias, src, backend, amqp)
        skipped = problem is not None and problem.startswith("skipped")
        failed += problem is not None and not skipped
        shown = "ok" if problem is None else problem if skipped else f"FAILED: {problem}"
        print(f"{example.name}: {shown}", flush=True)
    for name, reason in OUT_OF_SCOPE.items():
        if not only or name in only:
            print(f"{name}: not run: {reason}", flush=True)
    return failed
