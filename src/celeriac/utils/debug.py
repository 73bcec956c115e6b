"""Celery's ``celery.utils.debug``: memory samples, thread stacks, blocking detection."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from io import StringIO
from types import FrameType
from typing import IO, Any, TypeVar

__all__ = [
    "blockdetection",
    "cry",
    "humanbytes",
    "mem_rss",
    "memdump",
    "ps",
    "sample",
    "sample_mem",
]

T = TypeVar("T")

UNITS = ((2**40.0, "TB"), (2**30.0, "GB"), (2**20.0, "MB"), (2**10.0, "KB"), (0.0, "b"))

_process: Any = None
_mem_sample: list[str | None] = []


def _on_blocking(signum: int, frame: FrameType | None) -> None:
    import inspect

    where = inspect.getframeinfo(frame) if frame is not None else "unknown"
    raise RuntimeError(f"Blocking detection timed-out at: {where}")


@contextmanager
def blockdetection(timeout: float) -> Iterator[None]:
    """Raise :exc:`RuntimeError` in the block when it runs longer than ``timeout`` seconds
    (``SIGALRM``: main thread, Unix; ``0``/None: no detection)."""
    if not timeout:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_blocking)
    signal.setitimer(signal.ITIMER_REAL, float(timeout))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def ps() -> Any:
    """This process as a :class:`psutil.Process` (None when psutil is not installed)."""
    global _process
    if _process is None:
        try:
            from psutil import Process
        except ImportError:
            return None
        _process = Process(os.getpid())
    return _process


def hfloat(f: float, p: int = 5) -> float | str:
    """``f`` as an int when whole, else with ``p`` significant digits."""
    i = int(f)
    return i if i == f else f"{f:.{p}}"


def humanbytes(s: float) -> str:
    """A byte count for humans (``'1.5MB'``, ``'12b'``)."""
    return next(f"{hfloat(s / div if div else s)}{unit}" for div, unit in UNITS if s >= div)


def mem_rss() -> str | None:
    """This process's resident memory for humans (None without psutil)."""
    process = ps()
    return None if process is None else humanbytes(process.memory_info().rss)


def sample_mem() -> str | None:
    """Record the resident memory now (for :func:`memdump`) and return it."""
    current = mem_rss()
    _mem_sample.append(current)
    return current


def sample(x: Sequence[T], n: int, k: int = 0) -> Iterator[T]:
    """``n`` items of ``x`` spread evenly, starting at index ``k``."""
    step = len(x) // n
    for _ in range(n):
        try:
            yield x[k]
        except IndexError:
            break
        k += step


def memdump(samples: int = 10, file: IO[str] | None = None) -> None:
    """Print up to ``samples`` of the recorded memory samples, then the resident memory
    after a garbage collection; the samples are cleared."""
    say = partial(print, file=file)
    if ps() is None:
        say("- rss: (psutil not installed).")
        return
    recorded = list(_mem_sample)
    prev = recorded if len(recorded) <= samples else list(sample(recorded, samples))
    _mem_sample[:] = []
    gc.collect()
    after = mem_rss()
    if prev:
        say("- rss (sample):")
        for mem in prev:
            say(f"-    > {mem},")
    say(f"- rss (end): {after}.")


def cry(out: IO[str] | None = None, sepchr: str = "=", seplen: int = 49) -> str:
    """The stack of every thread, by thread name (what each thread is doing now)."""
    buffer = StringIO() if out is None else out
    say = partial(print, file=buffer)
    threads = {t.ident: t for t in threading.enumerate()}
    sep = sepchr * seplen
    for tid, frame in sys._current_frames().items():
        thread = threads.get(tid)
        if thread is None:
            continue
        say(thread.name)
        say(sep)
        traceback.print_stack(frame, file=buffer)
        say(sep)
        say("LOCAL VARIABLES")
        say(sep)
        say(repr(frame.f_locals))
        say("")
    return buffer.getvalue() if isinstance(buffer, StringIO) else ""
