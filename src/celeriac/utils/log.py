"""Logging helpers: Celery's log format, task loggers, colours and bounded reprs.

The names are Celery's (``celery.utils.log``). Configuring the worker's logging (the
``setup_logging`` signals, ``worker_hijack_root_logger``, the formats) is
:class:`celeriac.app.log.Logging`'s job; :func:`setup_logging` here is the plain set-up
it falls back to.
"""

from __future__ import annotations

import logging
import os
import reprlib
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "LOG_LEVELS",
    "ColorFormatter",
    "LoggingProxy",
    "base_logger",
    "get_logger",
    "get_multiprocessing_logger",
    "get_task_logger",
    "own_logger",
    "in_sighandler",
    "mlevel",
    "reset_multiprocessing_logger",
    "safe_repr",
    "set_in_sighandler",
    "set_process_name",
    "setup_logging",
    "task_logger",
    "worker_logger",
]

_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200
_repr.maxlist = 20
_repr.maxdict = 20

FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
TASK_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"

#: Level names to numbers and numbers to names (Celery's table).
LOG_LEVELS: dict[Any, Any] = {
    **logging.getLevelNamesMapping(),
    **{level: logging.getLevelName(level) for level in logging.getLevelNamesMapping().values()},
}

#: ``celery``: the parent of celeriac's own loggers, named as Celery's so that a logging
#: set-up written for Celery (Django's ``LOGGING``, ``logging.getLogger("celery")``) applies.
base_logger = logging.getLogger("celery")
#: The parent of every task logger (``celery.task``, as in Celery).
task_logger = logging.getLogger("celery.task")
#: The worker's logger.
worker_logger = logging.getLogger("celery.worker")

_COLORS = {
    logging.DEBUG: "\033[34m",
    logging.WARNING: "\033[33m",
    logging.ERROR: "\033[31m",
    logging.CRITICAL: "\033[35m",
}
_RESET = "\033[0m"
_sighandler = threading.local()


def safe_repr(value: object) -> str:
    """A repr that never raises and never floods a log line."""
    try:
        return _repr.repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def mlevel(level: str | int) -> int:
    """A level as a number, from a name (``"info"``, ``"INFO"``) or a number."""
    if isinstance(level, int):
        return level
    value = logging.getLevelNamesMapping().get(str(level).upper())
    if value is None:
        if str(level).isdigit():
            return int(level)
        raise ValueError(f"unknown log level {level!r}")
    return value


def get_logger(name: str) -> logging.Logger:
    """Return a logger (Celery's ``celery.utils.log.get_logger``)."""
    return logging.getLogger(name)


def own_logger(module: str) -> logging.Logger:
    """The logger of one of celeriac's modules, in Celery's tree: ``celeriac.worker.x``
    logs as ``celery.worker.x``, so logging set-ups written for Celery keep working."""
    if module == "celeriac" or module.startswith("celeriac."):
        module = "celery" + module[len("celeriac") :]
    return logging.getLogger(module)


def get_task_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` with ``celery.task`` as its parent, as Celery does.

    Records of task loggers pass through the ``celery.task`` logger, so one handler
    there sees every task's log lines whatever their module.
    """
    if name in ("celery", "celery.task"):
        raise RuntimeError(f"Logger name {name!r} is reserved for celeriac's own use")
    logger = logging.getLogger(name)
    if logger.parent is logging.getLogger():
        logger.parent = task_logger
    return logger


def get_multiprocessing_logger() -> logging.Logger | None:
    """The ``multiprocessing`` package's logger, when that package is in use."""
    mp_util = sys.modules.get("multiprocessing.util")
    return mp_util.get_logger() if mp_util is not None else None


def reset_multiprocessing_logger() -> None:
    """Forget ``multiprocessing``'s logger, so the next use sets it up again."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and hasattr(mp_util, "_logger"):
        setattr(mp_util, "_logger", None)  # noqa: B010 - private name


def in_sighandler() -> bool:
    """Whether this thread is inside a signal handler (:func:`set_in_sighandler`)."""
    return bool(getattr(_sighandler, "value", False))


@contextmanager
def set_in_sighandler(value: bool = True) -> Iterator[None]:
    """Mark this thread as inside a signal handler for the ``with`` block."""
    previous = in_sighandler()
    _sighandler.value = value
    try:
        yield
    finally:
        _sighandler.value = previous


class ColorFormatter(logging.Formatter):
    """Celery's formatter: colours the line by level (when ``use_color``), never raises."""

    #: Level number to ANSI colour sequence.
    COLORS = _COLORS

    def __init__(self, fmt: str | None = None, use_color: bool = True, **kwargs: Any) -> None:
        super().__init__(fmt, **kwargs)
        self.use_color = use_color

    def formatException(self, ei: Any) -> str:
        """The traceback text, or a note when formatting it fails."""
        try:
            return super().formatException(ei)
        except Exception as exc:
            return f"<Unrepresentable exception {type(exc).__name__}: {exc}>"

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, in its level's colour when colours are on."""
        try:
            text = super().format(record)
        except Exception as exc:
            text = f"<Unrepresentable {type(record.msg).__name__}: {exc!r}> {record.msg!r}"
        color = self.COLORS.get(record.levelno) if self.use_color else None
        return f"{color}{text}{_RESET}" if color else text


class LoggingProxy:
    """A file-like object writing each line to a logger (``print`` redirected to logs)."""

    mode = "w"
    name: str | None = None
    closed = False
    encoding: str | None = None

    def __init__(self, logger: logging.Logger, loglevel: str | int | None = None) -> None:
        self.logger = logger
        self.loglevel = mlevel(loglevel or logger.level or logging.WARNING)
        self._writing = threading.local()

    def write(self, data: str) -> int:
        """Log ``data`` (stripped of its trailing newline); return its length."""
        if in_sighandler() or getattr(self._writing, "busy", False):
            return sys.__stderr__.write(data) if sys.__stderr__ else 0
        text = data.rstrip("\n")
        if text:
            self._writing.busy = True
            try:
                self.logger.log(self.loglevel, text)
            finally:
                self._writing.busy = False
        return len(data)

    def writelines(self, lines: Iterable[str]) -> None:
        """Log each line."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Mark closed (the logger stays)."""
        self.closed = True

    def isatty(self) -> bool:
        """Never a terminal."""
        return False

    def fileno(self) -> None:
        """No file descriptor."""
        return None


def setup_logging(
    loglevel: str | int = "WARNING",
    logfile: str | os.PathLike[str] | None = None,
    process_name: str | None = None,
    fmt: str = FORMAT,
) -> None:
    """Configure the root logger with Celery's worker format (one line per event)."""
    level = mlevel(loglevel)
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if process_name:
        set_process_name(process_name)


def set_process_name(name: str) -> None:
    """Name this process in log lines (``%(processName)s``)."""
    import multiprocessing

    multiprocessing.current_process().name = name
