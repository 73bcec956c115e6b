"""The parts of Celery's ``app`` object beyond tasks, config and calling.

:class:`AppExtras` is a base class of :class:`~celeriac.app.base.Celery`: logging
(``app.log``), the bootstep sets and ``user_options`` projects extend, starting a worker
or the command line from Python (``app.Worker``, ``worker_main``, ``start``), and small
helpers (``signature``, ``timezone``, ``current_task`` …). The worker and the command line
sit above the app; they are looked up by name when used.
"""

from __future__ import annotations

import importlib
import platform
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from celeriac.app.log import Logging
from celeriac.config.settings import mask_url_passwords
from celeriac.execution import context

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.canvas.signature import Signature

__all__ = ["AppExtras"]


def _mask(url: str | None) -> str:
    """``url`` with its passwords (of each of several joined URLs) replaced by ``**``."""
    return mask_url_passwords(url, "**") if url else str(url)


class AppExtras:
    """Celery's app members around the core (a base class of ``Celery``)."""

    #: the operating system (Celery's ``app.SYSTEM``, ``IS_macOS``, ``IS_WINDOWS``)
    SYSTEM = platform.system()
    IS_macOS = SYSTEM == "Darwin"
    IS_WINDOWS = SYSTEM == "Windows"

    #: the loader class (an alias, import path or class), as Celery's ``loader_cls``
    loader_cls: Any = "app"
    #: the base class of the app's tasks, as given (``Celery(task_cls=...)`` or a subclass's
    #: attribute): a class or an import path; ``app.Task`` is that class
    task_cls: type | str = "celeriac.app.task:Task"

    def on_init(self) -> None:
        """Called at the end of ``Celery.__init__`` (override in a subclass to set up more)."""

    @property
    def loader(self) -> Any:
        """The app's loader (:class:`celeriac.loaders.base.BaseLoader`): imports the
        default modules, reads configuration modules."""
        found = self.__dict__.get("_loader")
        if found is None:
            from celeriac.loaders import get_loader_cls

            found = self.__dict__["_loader"] = get_loader_cls(self.loader_cls)(app=self)
        return found

    @property
    def annotations(self) -> list[Any]:
        """``task_annotations`` as annotation objects (``celeriac.app.annotations.prepare``)."""
        from celeriac.app.annotations import prepare

        return prepare(self._self().conf.task_annotations)

    def config_from_cmdline(self, argv: Sequence[str], namespace: str = "celery") -> None:
        """Apply ``key=value`` settings given on a command line (``worker.concurrency=4``)."""
        self._self().conf.update(self.loader.cmdline_config_parser(list(argv), namespace))

    @property
    def ResultSet(self) -> Any:
        """The result-set class (``app.ResultSet([r1, r2])``)."""
        from celeriac.results.result import ResultSet

        return ResultSet

    def either(self, default_key: str, *defaults: Any) -> Any:
        """The first of ``defaults`` that is not ``None``, else the setting ``default_key``."""
        for value in defaults:
            if value is not None:
                return value
        return self._self().conf.get(default_key)

    def select_queues(self, queues: Any = None) -> None:
        """Consume only from ``queues`` (names; Celery's ``app.select_queues``)."""
        self.amqp.queues.select(queues)

    def subclass_with_self(
        self,
        Class: type,
        name: str | None = None,
        attribute: str = "app",
        reverse: str | None = None,
        keep_reduce: bool = False,
        **kw: Any,
    ) -> type:
        """A subclass of ``Class`` whose ``attribute`` (``app``) is this app."""
        attrs = {attribute: self, "__module__": Class.__module__, "__doc__": Class.__doc__, **kw}
        return type(name or Class.__name__, (Class,), attrs)

    @contextmanager
    def connection_or_acquire(self, connection: Any = None, **_: Any) -> Iterator[Any]:
        """``connection`` when given, else the app's broker connection (kept open)."""
        yield connection if connection is not None else self._self().connection()

    default_connection = connection_or_acquire

    def bugreport(self) -> str:
        """Versions, platform, broker and result URLs and the changed settings (passwords
        masked): what ``celeriac report`` prints, for bug reports."""
        from celeriac import __version__

        app = self._self()
        return "\n".join(
            [
                f"software -> celeriac:{__version__} {platform.python_implementation()}:"
                f"{platform.python_version()}",
                f"platform -> system:{platform.system()} arch:{platform.machine()} "
                f"executable:{sys.executable}",
                f"broker -> {_mask(app.broker_url)}",
                f"results -> {_mask(app.result_backend_url)}",
                "",
                app.conf.humanize(),
            ]
        )

    #: Class paths Celery lets a project replace; the ones celeriac reads.
    log_cls = "celeriac.app.log:Logging"

    def _self(self) -> Celery:
        return self  # type: ignore[return-value]

    @property
    def log(self) -> Logging:
        """The app's logging set-up (Celery's ``app.log``)."""
        found: Logging | None = self.__dict__.get("_log")
        if found is None:
            found = self.__dict__["_log"] = Logging(self._self())
        return found

    @property
    def steps(self) -> dict[str, set[Any]]:
        """Bootsteps a project adds: ``app.steps['worker']`` and ``app.steps['consumer']``."""
        found: dict[str, set[Any]] | None = self.__dict__.get("_steps")
        if found is None:
            found = self.__dict__["_steps"] = {"worker": set(), "consumer": set()}
        return found

    @property
    def user_options(self) -> dict[str, set[Any]]:
        """Extra click options per command (``app.user_options['worker'].add(option)``)."""
        found: dict[str, set[Any]] | None = self.__dict__.get("_user_options")
        if found is None:
            found = self.__dict__["_user_options"] = {
                "worker": set(), "beat": set(), "events": set(), "preload": set(),
            }  # fmt: skip
        return found

    @property
    def Worker(self) -> Any:
        """The worker class bound to this app: ``app.Worker(hostname=..., pool=...).start()``."""
        module = importlib.import_module("celeriac.apps.worker")
        return module.bound_worker(self._self())

    WorkController = Worker

    @property
    def Beat(self) -> Any:
        """Beat bound to this app: ``app.Beat(scheduler=...).run()``."""
        module = importlib.import_module("celeriac.apps.beat")
        return module.bound_beat(self._self())

    def worker_main(self, argv: Sequence[str] | None = None) -> None:
        """Run ``celeriac worker`` with ``argv`` (``["worker", "-l", "INFO"]``) for this app."""
        args = list(argv or ["worker"])
        if not args or args[0] != "worker":
            raise ValueError("worker_main() expects argv starting with 'worker'")
        self.start(args)

    def start(self, argv: Sequence[str] | None = None) -> None:
        """Run the ``celeriac`` command line for this app (``app.start(['inspect', 'ping'])``)."""
        import sys

        cli = importlib.import_module("celeriac.cli.main")
        args = list(sys.argv[1:] if argv is None else argv)
        if args and args[0] in ("celery", "celeriac"):
            args = args[1:]
        cli.main_for_app(self._self(), args)

    @property
    def amqp(self) -> Any:
        """Celery's ``app.amqp`` as far as projects read it: ``app.amqp.queues`` by name."""
        from types import SimpleNamespace

        from celeriac.config.queues import declared_queues

        queues = {name: name for name in declared_queues(self._self().conf)}
        return SimpleNamespace(queues=queues, app=self)

    def signature(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature bound to this app (``app.signature('tasks.add', (2, 2))``)."""
        from celeriac.canvas.signature import Signature

        kwargs.setdefault("app", self)
        return Signature(*args, **kwargs)

    @property
    def current_task(self) -> Any:
        """The task running in this context, or ``None``."""
        return context.get_current_task()

    @property
    def current_worker_task(self) -> Any:
        """The task the worker is running in this context (not one called directly), or ``None``."""
        request = context.get_executing_request()
        return context.get_current_task() if request is not None else None

    @property
    def timezone(self) -> tzinfo:
        """The ``timezone`` setting as a tzinfo (UTC when unset)."""
        from datetime import UTC

        name = self._self().conf.timezone
        if not name:
            return UTC
        return name if isinstance(name, tzinfo) else ZoneInfo(str(name))

    def uses_utc_timezone(self) -> bool:
        """Whether the app's timezone is UTC."""
        return str(self.timezone) in ("UTC", "Etc/UTC")

    def gen_task_name(self, name: str, module: str) -> str:
        """The name a task function ``name`` defined in ``module`` gets."""
        main = self._self().main
        if module == "__main__" and main:
            module = main
        return f"{module}.{name}"

    @property
    def oid(self) -> str:
        """This app's id in this process (a UUID, stable for the app)."""
        found: str | None = self.__dict__.get("_oid")
        if found is None:
            import uuid

            found = self.__dict__["_oid"] = str(uuid.uuid4())
        return found

    @property
    def thread_oid(self) -> str:
        """An id for this app in this thread."""
        local = self.__dict__.setdefault("_thread_oid", threading.local())
        if not hasattr(local, "value"):
            import uuid

            local.value = str(uuid.uuid4())
        return str(local.value)
