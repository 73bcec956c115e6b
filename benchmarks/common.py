"""Helpers shared by the worker benchmarks (``sqlite_bench.py``, ``redis_bench.py``).

A benchmark script runs its *roles* (producer, latency client …) in fresh interpreters
inside a temporary directory that holds the app module, starts real worker processes
there, samples their memory and CPU, and can record them with py-spy.
"""

from __future__ import annotations

import functools
import json
import linecache
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a dev dependency
    psutil = None


def bench_env(directory: Path) -> dict[str, str]:
    """The environment of a role or worker: ``directory`` first on the path, no Celery URLs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(directory), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    return env


def run_role(
    script: str | Path, directory: Path, role: str, *args: str, profile: Path | None = None
) -> dict[str, Any]:
    """Run ``script --role ROLE ARGS`` in a fresh interpreter in ``directory``.

    The role prints one JSON object as its last line of output, which is returned. With
    ``profile``, the role runs under ``py-spy record`` writing raw collapsed stacks there.
    """
    command = [sys.executable, str(Path(script).resolve()), "--role", role, *args]
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        command = [
            "py-spy",
            "record",
            "--format",
            "raw",
            "--rate",
            "100",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    done = subprocess.run(
        command,
        cwd=directory,
        env=bench_env(directory),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"role {role} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


class Worker:
    """A worker subprocess, with memory and CPU sampled over its process tree."""

    def __init__(self, args: list[str], directory: Path, extra_env: dict[str, str] | None = None):
        self.args = args
        self.directory = directory
        self.log = open(directory / "worker.log", "wb")  # noqa: SIM115 - closed in stop()
        env = bench_env(directory)
        env.update(extra_env or {})
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            args,
            cwd=directory,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples = 0
        #: CPU seconds (user + system) last seen for each process of the worker
        self.cpu_seconds: dict[int, float] = {}
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self._profiler: subprocess.Popen[bytes] | None = None

    def sample_memory(self, interval: float = 0.1) -> None:
        """Start sampling RSS and PSS of the worker and its children in the background."""
        if psutil is None:
            return
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample_loop, args=(interval,), daemon=True)
        self._sampler.start()

    def _sample_loop(self, interval: float) -> None:
        try:
            parent = psutil.Process(self.proc.pid)
        except psutil.Error:
            return
        while self._sampling.is_set():
            rss = pss = 0
            try:
                processes = [parent, *parent.children(recursive=True)]
            except psutil.Error:
                return
            for process in processes:
                try:
                    info = process.memory_full_info()
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                self.cpu_seconds[process.pid] = times.user + times.system
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.samples += 1
            time.sleep(interval)

    def stop_sampling(self) -> None:
        self._sampling.clear()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
            self._sampler = None

    def cpu_cores(self, seconds: float) -> float:
        """CPU used by the worker's processes (as last sampled) per second of ``seconds``."""
        return sum(self.cpu_seconds.values()) / max(1e-9, seconds)

    def profile(self, out: Path, rate: int = 100) -> None:
        """Record the worker and its children with py-spy into ``out`` until :meth:`stop`."""
        out.parent.mkdir(parents=True, exist_ok=True)
        self._profiler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                str(rate),
                "-o",
                str(out),
                "--pid",
                str(self.proc.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_profile(self) -> None:
        if self._profiler is not None:
            self._profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            self._profiler.wait(timeout=60)
            self._profiler = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL the process group if it hangs."""
        self.stop_sampling()
        self.stop_profile()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def log_tail(self) -> str:
        return (self.directory / "worker.log").read_text(errors="replace")[-3000:]


def wait_for(
    predicate: Callable[[], bool], worker: Worker, timeout: float, interval: float = 0.005
) -> float:
    """Poll until ``predicate()``; return the time since the worker's start command."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if not worker.alive():
            raise RuntimeError(f"worker exited early:\n{worker.log_tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out after {timeout}s:\n{worker.log_tail()}")
        time.sleep(interval)
    return time.perf_counter() - worker.started


def latency_summary(samples_ms: list[float]) -> dict[str, float]:
    samples = sorted(samples_ms)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "mean_ms": statistics.fmean(samples),
        "max_ms": samples[-1],
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({key for run in runs for key in run})
    return {key: statistics.median(run[key] for run in runs if key in run) for key in keys}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "tasks/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "cores":
        return f"{value:.2f}"
    if unit == "x":
        return f"{value:.2f}×"  # noqa: RUF001
    return f"{value:.2f} s"


def recreate_vhost(vhost: str) -> None:
    """Delete and recreate a RabbitMQ vhost (every queue and exchange gone), for ``guest``."""
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    subprocess.run([ctl, "-q", "delete_vhost", vhost], capture_output=True, timeout=60)
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def machine() -> str:
    return f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"


# -- py-spy profiles ------------------------------------------------------------------------
#: A leaf frame on one of these calls is a thread waiting, not working. py-spy's own idle
#: detection does not work on every kernel, so waits are recognised from the source line.
_WAIT_CALL = re.compile(r"\.(get|select|wait|join|poll|acquire|sleep|recv|recv_into|accept)\(")


@functools.cache
def _source_line(frame: str) -> str:
    """The source line of a py-spy frame ``func (pkg/module.py:123)``, when it can be found."""
    match = re.search(r"\(([^()]+\.py):(\d+)\)$", frame)
    if match is None:
        return ""
    relative, line = match.group(1), int(match.group(2))
    if os.path.isabs(relative):
        return linecache.getline(relative, line).strip()
    for entry in sys.path:
        candidate = Path(entry or ".") / relative
        if candidate.is_file():
            return linecache.getline(str(candidate), line).strip()
    return ""


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1]}" if where else name


def summarize_profile(path: Path, top: int = 15, package: str = "celeriac") -> str:
    """The busiest functions of a py-spy raw profile, waiting threads left out."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    busy = waiting = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        if _WAIT_CALL.search(_source_line(frames[-1])):
            waiting += count
            continue
        busy += count
        leaf = _short(frames[-1])
        own[leaf] = own.get(leaf, 0) + count
        for frame in {
            _short(frame) for frame in frames if f"({package}/" in frame or f"/{package}/" in frame
        }:
            inclusive[frame] = inclusive.get(frame, 0) + count
    if not busy:
        return "  (no busy samples)"
    lines = [f"  {busy} busy samples ({waiting} more were threads waiting); own time:"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / busy:5.1f}%  {frame}")
    lines.append(f"  inclusive, {package}'s functions (leaving out those in every busy sample):")
    shown = 0
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if count >= busy * 0.9 or shown >= top:
            continue
        lines.append(f"  {100 * count / busy:5.1f}%  {frame}")
        shown += 1
    return "\n".join(lines)
