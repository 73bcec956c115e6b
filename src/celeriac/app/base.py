"""The Celery class: configuration, the task registry, sending tasks and storing states."""

from __future__ import annotations

import asyncio
import importlib
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, overload

from celeriac import states
from celeriac.app import connections, publish
from celeriac.app.amqp import AMQP
from celeriac.app.builtins import register_builtins
from celeriac.app.control import Control
from celeriac.app.extras import AppExtras
from celeriac.app.fixups import Discovery, Fixup, load_fixups
from celeriac.app.periodic import PeriodicTasks
from celeriac.app.pydantic_args import PYDANTIC_OPTIONS, use_models
from celeriac.app.registry import TaskRegistry
from celeriac.app.sent_events import SentEvents
from celeriac.app.shared import finalize_callbacks, registered_apps
from celeriac.app.task import Task as BaseTask
from celeriac.backends.base import REPLY_ROUTE, Backend, ChordBackend
from celeriac.backends.registry import create_backend
from celeriac.canvas.workflow import RequestPartReporter
from celeriac.config.loader import settings_from_envvar, settings_from_object
from celeriac.config.settings import Settings
from celeriac.events import Events
from celeriac.exceptions import ImproperlyConfigured
from celeriac.execution import context
from celeriac.execution.request import Context
from celeriac.middleware.base import Middleware
from celeriac.middleware.error_mails import ErrorMails
from celeriac.middleware.signals import Signals
from celeriac.middleware.stack import MiddlewareStack
from celeriac.protocol import results as result_protocol
from celeriac.protocol.message import Message
from celeriac.results import result as results
from celeriac.security.setup import SignerCache, configure_auth
from celeriac.security.signing import Signer
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.registry import create_transport
from celeriac.utils.clock import LamportClock
from celeriac.utils.imports import import_class
from celeriac.utils.log import own_logger
from celeriac.utils.process import current_pid

__all__ = ["DEFAULT_SQLITE_URL", "Celery"]

logger = own_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Where the embedded broker and result store live when nothing is configured.
DEFAULT_SQLITE_URL = "sqlite:///celeriac.sqlite3"


class Celery(PeriodicTasks, AppExtras):
    """A celeriac application: where tasks are registered and configuration lives.

    Args:
        main: the name of the main module (task names defined in ``__main__`` use it).
        broker: the broker URL (``broker_url``); default: the embedded SQLite file.
        backend: the result backend URL (``result_backend``).
        include: modules to import when the worker starts.
        set_as_current: make this the current app.
        **settings: any setting, by its lowercase name.
    """

    #: The base class of tasks made with ``@app.task`` (replace with ``task_cls=``).
    Task: type[BaseTask[..., object]] = BaseTask

    def __init__(
        self,
        main: str | None = None,
        broker: str | None = None,
        backend: str | None = None,
        include: Iterable[str] | None = None,
        *,
        set_as_current: bool = True,
        task_cls: type[BaseTask[..., object]] | str | None = None,
        config_source: object = None,
        namespace: str | None = None,
        **settings: object,
    ) -> None:
        self.main = main
        self.conf = Settings()
        self.tasks = TaskRegistry()
        self.middleware = MiddlewareStack(self._default_middleware())
        self.reply_to = str(uuid.uuid4())
        #: this process's Lamport clock (events, Celery's ``app.clock``)
        self.clock = LamportClock()
        self._transport: Transport | None = None
        self._backend: Backend | None = None
        self._signers = SignerCache()
        self._pid = current_pid()
        self._origin_cache: tuple[int, str] = (0, "")
        #: settings made before the first config source; they win over it (Celery's rule)
        self._preconf: dict[str, object] | None = None
        self._finalized = False
        self._init_periodic()
        if task_cls is not None or self.task_cls != AppExtras.task_cls:
            self.task_cls = task_cls = task_cls or self.task_cls
            self.Task = import_class(task_cls, BaseTask) if isinstance(task_cls, str) else task_cls
        #: framework integrations found by entry point (Django's, when it is in use)
        self.fixups: list[Fixup] = load_fixups(self)
        self._discovery = Discovery(self.fixups)
        if config_source is not None:
            self.config_from_object(config_source, namespace=namespace)
        if broker is not None:
            settings["broker_url"] = broker
        if backend is not None:
            settings["result_backend"] = backend
        if include is not None:
            settings["include"] = list(include)
        if settings:
            self.conf.update(settings)
        registered_apps.append(self)
        if set_as_current:
            self.set_current()
        self._register_builtins()
        self.on_init()

    def _default_middleware(self) -> list[Middleware]:
        return [Signals(), ErrorMails(), SentEvents(self)]

    def _register_builtins(self) -> None:
        register_builtins(self)

    def __repr__(self) -> str:
        return f"<Celery {self.main or '__main__'} at {id(self):#x}>"

    @property
    def control(self) -> Control:
        """Remote control of the workers (Celery's ``app.control``)."""
        control: Control | None = self.__dict__.get("_control")
        if control is None:
            control = self.__dict__["_control"] = Control(self)
        return control

    @property
    def amqp(self) -> AMQP:
        """The app's queues and routing defaults (Celery's ``app.amqp``: ``queues``)."""
        amqp: AMQP | None = self.__dict__.get("_amqp")
        if amqp is None:
            amqp = self.__dict__["_amqp"] = AMQP(self)
        return amqp

    @property
    def events(self) -> Events:
        """Monitoring events (Celery's ``app.events``: ``Receiver``, ``Dispatcher``, ``State``)."""
        events: Events | None = self.__dict__.get("_events")
        if events is None:
            events = self.__dict__["_events"] = Events(self)
        return events

    # -- current app -----------------------------------------------------------------
    def set_current(self) -> None:
        """Make this the current app (``current_app``)."""
        context.set_current_app(self)

    def set_default(self) -> None:
        """Alias of :meth:`set_current`."""
        self.set_current()

    # -- configuration ---------------------------------------------------------------
    def config_from_object(
        self, obj: object, silent: bool = False, force: bool = True, namespace: str | None = None
    ) -> None:
        """Load settings from an object, a module, a module path or ``"module:attr"``.

        With ``namespace="CELERY"`` only ``CELERY_``-prefixed names are read
        (Django style: ``CELERY_BROKER_URL`` → ``broker_url``).
        """
        try:
            loaded = settings_from_object(obj, namespace=namespace)
        except ImproperlyConfigured:
            if not silent:
                raise
            return
        self._apply_config_source(loaded)

    def _apply_config_source(self, loaded: Mapping[str, object]) -> None:
        """Apply a config source under the settings given before it, as Celery does.

        ``Celery(broker=...)`` and ``app.conf`` values set before the first config
        source keep precedence over what a config object says.
        """
        if self._preconf is None:
            self._preconf = self.conf.changes()
        self.conf.update({**loaded, **self._preconf})
        self._reset_connections()

    def config_from_envvar(
        self, variable_name: str, silent: bool = False, force: bool = True
    ) -> None:
        """Load settings from the module named by an environment variable."""
        try:
            loaded = settings_from_envvar(variable_name)
        except ImproperlyConfigured:
            if not silent:
                raise
            return
        self._apply_config_source(loaded)

    def autodiscover_tasks(
        self,
        packages: Iterable[str] | Callable[[], Iterable[str]] | None = None,
        related_name: str = "tasks",
        force: bool = True,
    ) -> list[str]:
        """Import ``<package>.tasks`` for each package (default: the installed Django apps).

        While a fixup is not ready for it (Django's apps are not loaded yet), the search
        waits until :meth:`finalize` (the worker and beat call it); it then returns [].
        """
        return self._discovery.request(packages, related_name)

    def finalize(self) -> None:
        """Import the modules listed in ``include``/``imports`` (done by the worker and beat).

        Sends ``on_after_configure`` (once) and then ``on_after_finalize``.
        """
        if self._finalized:
            return
        self._finalized = True
        for callback in list(finalize_callbacks):
            callback(self)
        self._discovery.run_pending()
        for module in [*(self.conf.imports or ()), *(self.conf.include or ())]:
            importlib.import_module(module)
        if self.conf.task_annotations:
            for task in list(self.tasks.values()):
                task.annotate()
        self._configured()
        self.on_after_finalize.send(sender=self)

    @property
    def broker_url(self) -> str:
        """The broker URL in effect: the ``CELERY_BROKER_URL`` environment variable, else
        ``broker_url`` (Celery's order), else the embedded SQLite file."""
        return connections.configured_url(self.conf, "broker_url") or DEFAULT_SQLITE_URL

    @property
    def result_backend_url(self) -> str:
        """The result backend in effect: the ``CELERY_RESULT_BACKEND`` environment
        variable, else ``result_backend`` (Celery's order); ``disabled`` when a broker but
        no backend is set."""
        url = connections.configured_url(self.conf, "result_backend")
        if url:
            return url
        if self.broker_url == DEFAULT_SQLITE_URL:
            return DEFAULT_SQLITE_URL
        if self.broker_url.startswith("sqlite"):
            return self.broker_url
        if self.broker_url.startswith("memory"):
            return "memory://"
        return "disabled"

    # -- connections -----------------------------------------------------------------
    def _check_fork(self) -> None:
        if (pid := current_pid()) != self._pid:  # forked: never share the parent's connections
            self._pid = pid
            self._transport = None
            self._backend = None
            # results sent to this process (rpc://) must not go to the parent's queue
            self.reply_to = str(uuid.uuid4())

    def _reset_connections(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._backend is not None:
            self._backend.close()
        self._transport = None
        self._backend = None

    def transport_options(self) -> TransportOptions:
        """The transport options from ``broker_transport_options`` and task settings."""
        return connections.transport_options(self.conf)

    @property
    def transport(self) -> Transport:
        """The broker transport of this process (created on first use, renewed after fork)."""
        self._check_fork()
        if self._transport is None:
            self._transport = create_transport(self.broker_url, self.transport_options())
        return self._transport

    def connection(
        self,
        hostname: str | None = None,
        userid: str | None = None,
        password: str | None = None,
        virtual_host: str | None = None,
        port: int | None = None,
        ssl: bool = False,
        connect_timeout: float | None = None,
        transport: str | None = None,
        transport_options: Mapping[str, Any] | None = None,
        heartbeat: float | None = None,
        login_method: str | None = None,
        failover_strategy: str | None = None,
        **kwargs: Any,
    ) -> Transport:
        """Celery's name for the broker connection: :attr:`transport`, or a new transport
        to the broker URL ``hostname`` (Celery's ``connection``/``connection_for_write``).

        ``ssl``, ``connect_timeout``, ``heartbeat`` and ``failover_strategy`` are accepted
        for Celery's signature; the transport takes them from the URL and the broker
        settings (``broker_use_ssl``, ``broker_connection_timeout``, ``broker_heartbeat``).

        Raises:
            NotImplementedError: URL parts given one by one (``userid``, ``port`` …);
                give the whole URL as ``hostname``.
        """
        parts: dict[str, object] = {"userid": userid, "password": password}
        parts["virtual_host"] = virtual_host
        parts.update(port=port, transport=transport, login_method=login_method)
        given = sorted(k for k, v in {**parts, **kwargs}.items() if v is not None)
        if given or transport_options:
            raise NotImplementedError(
                f"app.connection({', '.join(given or ['transport_options'])}=...): give the "
                "whole broker URL as hostname (options come from broker_transport_options)"
            )
        if hostname is None or hostname == self.broker_url:
            return self.transport
        return create_transport(hostname, self.transport_options())

    #: Celery's other names of :meth:`connection`.
    broker_connection = connection_for_read = connection_for_write = connection

    def new_transport(self) -> Transport:
        """A fresh transport instance (a worker consumes on its own)."""
        if not self.transport.crosses_processes:
            return self.transport  # memory:// lives in this process: share it
        return create_transport(self.broker_url, self.transport_options())

    @property
    def backend(self) -> Backend:
        """The result backend of this process (created on first use, renewed after fork)."""
        self._check_fork()
        if self._backend is None:
            options = connections.backend_options(self.conf)
            options.reply_to = self.reply_to
            self._backend = create_backend(self.result_backend_url, options)
            if isinstance(self._backend, ChordBackend):  # Celery's on_chord_part_return
                self._backend.part_reporter = RequestPartReporter(self)
        return self._backend

    @property
    def signer(self) -> Signer | None:
        """The message signer the settings ask for (``task_serializer='auth'`` or
        ``security_keys``), or None when signing is off (see docs/security.md)."""
        return self._signers.get(self.conf)

    def setup_security(self, *args: Any, **kwargs: Any) -> None:
        """Celery's ``setup_security``: sign with ``auth`` (X.509), accept only signed
        messages; arguments as :func:`celeriac.security.setup.configure_auth`."""
        configure_auth(self.conf, *args, **kwargs)

    def close(self) -> None:
        """Close the transport and backend connections of this process."""
        self._reset_connections()

    # -- tasks -----------------------------------------------------------------------
    @overload
    def task(self, fun: Callable[P, Coroutine[object, object, R]], /) -> BaseTask[P, R]: ...

    @overload
    def task(self, fun: Callable[P, R], /) -> BaseTask[P, R]: ...

    @overload
    def task(
        self,
        *,
        bind: bool = ...,
        base: type[BaseTask[Any, Any]] | None = ...,
        name: str | None = ...,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], BaseTask[Any, Any]]: ...

    def task(
        self, *args: Callable[..., object], **options: object
    ) -> BaseTask[..., object] | Callable[[Callable[..., object]], BaseTask[..., object]]:
        """Register a function as a task: ``@app.task`` or ``@app.task(name=..., bind=True)``.

        ``async def`` functions become async tasks that run on the worker's event loop.
        """
        if len(args) == 1 and callable(args[0]) and not options:
            return self._create_task(args[0], {})
        if args:
            raise TypeError("app.task() takes a function or keyword options only")

        def decorator(fun: Callable[..., object]) -> BaseTask[..., object]:
            return self._create_task(fun, options)

        return decorator

    def _create_task(
        self, fun: Callable[..., object], options: Mapping[str, object]
    ) -> BaseTask[..., object]:
        options = dict(options)
        base = options.pop("base", None) or self.Task
        if not (isinstance(base, type) and issubclass(base, BaseTask)):
            raise TypeError(f"a task's base must be a Task subclass, not {base!r}")
        options.pop("shared", None)
        name = options.pop("name", None)
        if name is None and fun.__module__ == "__main__" and self.main:
            name = f"{self.main}.{getattr(fun, '__name__', 'task')}"
        existing = self.tasks.get(str(name)) if name else None
        bind = bool(options.pop("bind", False))
        models = {key: options.pop(key) for key in PYDANTIC_OPTIONS if key in options}
        task = base(fun, app=self, name=None if name is None else str(name), bind=bind, **options)
        if existing is not None and existing._decorated_fun is fun:
            return existing
        task._decorated_fun = fun
        use_models(task, fun, models)
        self.tasks.register(task)
        return task

    def register_task(
        self, task: BaseTask[..., object] | type[BaseTask[..., object]], **options: object
    ) -> BaseTask[..., object]:
        """Register a class-based task (an instance or a Task subclass with ``run``)."""
        instance = task() if isinstance(task, type) else task
        instance.app = self
        for key, value in options.items():
            setattr(instance, key, value)
        if not instance.name:
            cls = type(instance)
            instance.name = f"{cls.__module__}.{cls.__name__}"
        self.tasks.register(instance)
        return instance

    # -- sending ---------------------------------------------------------------------
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)

    def _origin(self) -> str:
        """``gen<pid>@<host>`` of this process (cached; renewed after a fork)."""
        pid = current_pid()
        if self._origin_cache[0] != pid:
            self._origin_cache = (pid, f"gen{pid}@{socket.gethostname()}")
        return self._origin_cache[1]

    def prepare_task_message(
        self,
        name: str,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        *,
        task_type: BaseTask[..., object] | None = None,
        **options: object,
    ) -> tuple[Message, str, float | None]:
        """Build the protocol-v2 message for a call; return ``(message, queue, eta_epoch)``.

        Raises:
            MessageTooLarge: the message exceeds ``task_message_max_size``.
        """
        task = task_type if task_type is not None else self.tasks.get(name)
        outgoing = publish.prepare(self, name, args, kwargs, options, task)
        return outgoing.message, outgoing.queue, outgoing.eta

    def send_task(
        self,
        name: str,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        *,
        task_type: BaseTask[..., object] | None = None,
        **options: object,
    ) -> results.AsyncResult[object]:
        """Send a task by name (the task need not be registered in this process).

        Takes the same options as :meth:`Task.apply_async`. Returns an AsyncResult.
        """
        task = task_type if task_type is not None else self.tasks.get(name)
        return publish.send(self, name, args, kwargs, options, task)

    async def asend_task(
        self,
        name: str,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        *,
        task_type: BaseTask[..., object] | None = None,
        **options: object,
    ) -> results.AsyncResult[object]:
        """Async twin of :meth:`send_task` (with the same publish retry policy)."""
        task = task_type if task_type is not None else self.tasks.get(name)
        return await publish.asend(self, name, args, kwargs, options, task)

    def send_many(self, calls: Sequence[publish.Call]) -> list[results.AsyncResult[object]]:
        """Send plain task calls ``(name, args, kwargs, options)`` (a group's members) in a
        few broker round trips where the transport can; results in the order of ``calls``."""
        return publish.send_many(self, calls)

    # -- results ---------------------------------------------------------------------
    def AsyncResult(
        self,
        task_id: str,
        *,
        task_name: str | None = None,
        parent: results.AsyncResult[object] | None = None,
        backend: Backend | None = None,
    ) -> results.AsyncResult[object]:
        """A result handle for a task id."""
        return results.AsyncResult(task_id, backend, task_name=task_name, app=self, parent=parent)

    def GroupResult(
        self,
        group_id: str,
        members: Iterable[results.AsyncResult[object]] | None = None,
        parent: results.AsyncResult[object] | None = None,
    ) -> results.GroupResult[object]:
        """A group result handle."""
        return results.GroupResult(group_id, members, parent=parent, app=self)

    def result_meta(
        self,
        task_id: str,
        state: str,
        result: object,
        *,
        request: Context | None = None,
        traceback: str | None = None,
        children: list[object] | None = None,
    ) -> dict[str, object]:
        """Build the stored meta for a state change, in Celery's shape."""
        if isinstance(result, BaseException):
            result = result_protocol.encode_exception(result)
        elif isinstance(result, results.AsyncResult | results.GroupResult):
            result = result.as_tuple()  # a task returning a result handle: its tuple form
        extended = None
        if request is not None and self.conf.result_extended:
            extended = {
                "name": request.task,
                "args": request.args,
                "kwargs": request.kwargs,
                "worker": request.hostname,
                "retries": request.retries,
                "queue": (request.delivery_info or {}).get("routing_key"),
            }
        meta = result_protocol.build_meta(
            task_id,
            state,
            result,
            traceback=traceback,
            children=children or [],
            date_done=self.now() if state in states.READY_STATES else None,
            group_id=getattr(request, "group", None),
            parent_id=getattr(request, "parent_id", None),
            extended=extended,
        )
        if request is not None and request.reply_to and self.backend.replies_to_caller:
            # rpc://: the result goes to the caller's reply queue (the backend strips this)
            meta[REPLY_ROUTE] = [request.reply_to, request.correlation_id or task_id]
        return meta

    def store_state(
        self,
        task_id: str,
        state: str,
        meta: object,
        *,
        request: Context | None = None,
        traceback: str | None = None,
    ) -> None:
        """Store a state for a task (``update_state``, STARTED, REVOKED …)."""
        backend = self.backend
        if not backend.stores_results:
            return
        backend.store(
            task_id, self.result_meta(task_id, state, meta, request=request, traceback=traceback)
        )

    # -- the event loop guard ------------------------------------------------------------
    @staticmethod
    def in_running_loop() -> bool:
        """True when called from a thread with a running asyncio loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True


def _default_app() -> Celery:
    return Celery("default", set_as_current=True)


# The one import-time registration (a documented exception to "no import-time side
# effects"): ``current_app`` creates this app when none exists, and the context module
# below ``app`` need not import it.
context.set_default_app_factory(_default_app)
