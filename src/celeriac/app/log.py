"""``app.log``: the worker's and beat's logging set-up, as Celery does it.

:meth:`Logging.setup` sends the ``setup_logging`` signal first; when a project connects a
receiver, that receiver owns logging and celeriac configures nothing. Otherwise the root
logger gets a handler in ``worker_log_format`` (its old handlers dropped when
``worker_hijack_root_logger`` is on), ``after_setup_logger`` is sent, then the
``celery.task`` logger gets one in ``worker_task_log_format`` (a :class:`TaskFormatter`
filling ``task_name``/``task_id``) and ``after_setup_task_logger`` is sent.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from celeriac import signals
from celeriac.execution.context import get_current_task
from celeriac.utils.log import (
    ColorFormatter,
    LoggingProxy,
    get_multiprocessing_logger,
    mlevel,
    reset_multiprocessing_logger,
    task_logger,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Logging", "TaskFormatter"]


class TaskFormatter(ColorFormatter):
    """A formatter that fills ``%(task_name)s`` and ``%(task_id)s`` from the running task.

    Outside a task both read ``???``, as in Celery.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Add the running task's name and id to the record, then format it."""
        task = get_current_task()
        request = getattr(task, "request", None) if task is not None else None
        if task is not None and request is not None and getattr(request, "id", None):
            record.__dict__.update(task_id=request.id, task_name=task.name)
        else:
            record.__dict__.setdefault("task_name", "???")
            record.__dict__.setdefault("task_id", "???")
        return super().format(record)


def _has_handler(logger: logging.Logger) -> bool:
    return bool(logger.handlers) and not isinstance(logger.handlers[0], logging.NullHandler)


class Logging:
    """The logging set-up of one app (Celery's ``celery.app.log.Logging``)."""

    #: Whether a process already set logging up (a forked child inherits it).
    _setup: ClassVar[bool] = False

    def __init__(self, app: Celery) -> None:
        self.app = app
        conf = app.conf
        self.loglevel = mlevel(logging.WARNING)
        self.format: str = conf.worker_log_format
        self.task_format: str = conf.worker_task_log_format
        self.colorize: bool | None = conf.worker_log_color
        self._skip = False

    @property
    def already_setup(self) -> bool:
        """Whether logging was set up in this process (or the parent it was forked from).

        Setting it on one app's ``log`` (as Celery's test app does) makes that app's
        set-up a no-op.
        """
        return self._skip or Logging._setup

    @already_setup.setter
    def already_setup(self, value: bool) -> None:
        self._skip = value

    def setup(
        self,
        loglevel: str | int | None = None,
        logfile: str | os.PathLike[str] | None = None,
        redirect_stdouts: bool = False,
        redirect_level: str | int = "WARNING",
        colorize: bool | None = None,
        hostname: str | None = None,
    ) -> bool:
        """Set up logging; return whether a ``setup_logging`` receiver took it over."""
        handled = self.setup_logging_subsystem(
            loglevel, logfile, colorize=colorize, hostname=hostname
        )
        if not handled and redirect_stdouts:
            self.redirect_stdouts(redirect_level)
        os.environ.update(
            CELERY_LOG_LEVEL=str(mlevel(loglevel or self.loglevel)),
            CELERY_LOG_FILE=str(logfile) if logfile else "",
        )
        return handled

    def setup_logging_subsystem(
        self,
        loglevel: str | int | None = None,
        logfile: str | os.PathLike[str] | None = None,
        format: str | None = None,
        colorize: bool | None = None,
        hostname: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Send ``setup_logging``; when nobody handles it, configure the root and task loggers."""
        if self.already_setup:
            return False
        if logfile and hostname:
            from celeriac.utils.nodenames import node_format

            # the main process: %i is 0, %I empty (a pool child formats its own)
            logfile = node_format(str(logfile), hostname, i="0", I="")
        Logging._setup = True
        level = mlevel(loglevel or self.loglevel)
        format = format or self.format
        colorize = self.supports_color(colorize, logfile)
        reset_multiprocessing_logger()
        receivers = signals.setup_logging.send(
            sender=None, loglevel=level, logfile=logfile, format=format, colorize=colorize
        )
        if receivers:
            return True
        root = logging.getLogger()
        if self.app.conf.worker_hijack_root_logger:
            root.handlers = []
            task_logger.handlers = []
            logging.getLogger("celery.redirected").handlers = []
        self._configure_logger(root, logfile, level, format, colorize)
        mp_logger = get_multiprocessing_logger()
        if mp_logger is not None:
            self._configure_logger(mp_logger, logfile, logging.ERROR, format, colorize)
        signals.after_setup_logger.send(
            sender=None, logger=root, loglevel=level, logfile=logfile, format=format,
            colorize=colorize,
        )  # fmt: skip
        self.setup_task_loggers(level, logfile, colorize=colorize)
        return False

    def _configure_logger(
        self,
        logger: logging.Logger,
        logfile: str | os.PathLike[str] | None,
        loglevel: int,
        format: str,
        colorize: bool,
    ) -> None:
        self.setup_handlers(logger, logfile, format, colorize)
        if loglevel:
            logger.setLevel(loglevel)

    def setup_task_loggers(
        self,
        loglevel: str | int | None = None,
        logfile: str | os.PathLike[str] | None = None,
        format: str | None = None,
        colorize: bool | None = None,
        propagate: bool = False,
        **kwargs: Any,
    ) -> logging.Logger:
        """Give ``celery.task`` its handler; send ``after_setup_task_logger``."""
        level = mlevel(loglevel or self.loglevel)
        format = format or self.task_format
        colorize = self.supports_color(colorize, logfile)
        logger = self.setup_handlers(
            task_logger, logfile, format, colorize, formatter=TaskFormatter
        )
        logger.setLevel(level)
        logger.propagate = propagate
        signals.after_setup_task_logger.send(
            sender=None, logger=logger, loglevel=level, logfile=logfile, format=format,
            colorize=colorize,
        )  # fmt: skip
        return logger

    def setup_handlers(
        self,
        logger: logging.Logger,
        logfile: str | os.PathLike[str] | None,
        format: str,
        colorize: bool,
        formatter: type[ColorFormatter] = ColorFormatter,
        **kwargs: Any,
    ) -> logging.Logger:
        """Add a handler (the log file, else stderr) unless the logger already has one."""
        if _has_handler(logger):
            return logger
        handler = self._detect_handler(logfile)
        conf = self.app.conf
        task = issubclass(formatter, TaskFormatter)
        datefmt = conf.worker_task_log_datefmt if task else conf.worker_log_datefmt
        handler.setFormatter(formatter(format, use_color=colorize, datefmt=datefmt))
        logger.addHandler(handler)
        return logger

    def _detect_handler(self, logfile: str | os.PathLike[str] | None) -> logging.Handler:
        if logfile:
            return logging.FileHandler(logfile)
        return logging.StreamHandler(sys.stderr)

    def redirect_stdouts(
        self, loglevel: str | int | None = None, name: str = "celery.redirected"
    ) -> None:
        """Send ``print`` output (stdout and stderr) to the logger ``name``."""
        self.redirect_stdouts_to_logger(logging.getLogger(name), loglevel=loglevel)

    def redirect_stdouts_to_logger(
        self,
        logger: logging.Logger,
        loglevel: str | int | None = None,
        stdout: bool = True,
        stderr: bool = True,
    ) -> LoggingProxy:
        """Replace ``sys.stdout``/``sys.stderr`` with a :class:`LoggingProxy` to ``logger``."""
        proxy = LoggingProxy(logger, loglevel)
        if stdout:
            sys.stdout = proxy
        if stderr:
            sys.stderr = proxy
        return proxy

    def supports_color(
        self, colorize: bool | None = None, logfile: str | os.PathLike[str] | None = None
    ) -> bool:
        """Colour when asked, else when not logging to a file and stderr is a terminal."""
        if colorize is None:
            colorize = self.colorize
        if colorize is not None:
            return bool(colorize)
        if logfile:
            return False
        stream: TextIO | None = sys.stderr
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())

    def get_default_logger(self, name: str = "celery", **kwargs: Any) -> logging.Logger:
        """celeriac's own base logger."""
        return logging.getLogger(name)
