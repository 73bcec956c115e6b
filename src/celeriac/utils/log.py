"""Logging helpers: Celery's log format, task loggers and bounded reprs."""

from __future__ import annotations

import logging
import reprlib
import sys
from typing import Any

__all__ = ["get_logger", "get_task_logger", "safe_repr", "setup_logging"]

_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200
_repr.maxlist = 20
_repr.maxdict = 20

FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"


def safe_repr(value: Any) -> str:
    """A repr that never raises and never floods a log line."""
    try:
        return _repr.repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def get_logger(name: str) -> logging.Logger:
    """Return a logger (Celery's ``celery.utils.log.get_logger``)."""
    return logging.getLogger(name)


def get_task_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` with ``celeriac.task`` as its parent, as Celery does.

    Records of task loggers pass through the ``celeriac.task`` logger, so one handler
    there sees every task's log lines whatever their module.
    """
    logger = logging.getLogger(name)
    if logger.parent is logging.getLogger():
        logger.parent = logging.getLogger("celeriac.task")
    return logger


def setup_logging(
    loglevel: str | int = "WARNING", logfile: str | None = None, process_name: str | None = None
) -> None:
    """Configure the root logger with Celery's worker format (one line per event)."""
    level = logging.getLevelName(loglevel.upper()) if isinstance(loglevel, str) else loglevel
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {loglevel!r}")
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if process_name:
        import multiprocessing

        multiprocessing.current_process().name = process_name
