"""The Celery class: configuration, the task registry, sending tasks and storing states."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar, overload

from celeriac import states
from celeriac.app import context
from celeriac.app.control import Control
from celeriac.app.registry import TaskRegistry, find_related_modules
from celeriac.app.routing import resolve_route
from celeriac.app.task import Task as BaseTask
from celeriac.backends.base import Backend, BackendOptions
from celeriac.backends.registry import create_backend
from celeriac.config.loader import settings_from_envvar, settings_from_object
from celeriac.config.settings import Settings
from celeriac.exceptions import BrokerError, ImproperlyConfigured, MessageTooLarge
from celeriac.middleware.stack import MiddlewareStack
from celeriac.protocol import results as result_protocol
from celeriac.protocol.message import Message
from celeriac.protocol.task import build_task_message
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.registry import create_transport

__all__ = ["DEFAULT_SQLITE_URL", "Celery"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Where the embedded broker and result store live when nothing is configured.
DEFAULT_SQLITE_URL = "sqlite:///celeriac.sqlite3"

_DEFAULT_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


def _signature_dicts(value: Any) -> list[dict[str, Any]] | None:
    """Normalize ``link``/``link_error`` (one signature or a list) to a list of dicts."""
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    return [dict(item) for item in items]


def _seconds(value: float | timedelta | None) -> float | None:
    """A duration setting in seconds; ``None`` stays ``None``."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _as_datetime(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return now + timedelta(seconds=float(value))
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected a datetime or seconds, got {value!r}")


class Celery:
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
    Task: type[BaseTask[Any, Any]] = BaseTask

    def __init__(
        self,
        main: str | None = None,
        broker: str | None = None,
        backend: str | None = None,
        include: Iterable[str] | None = None,
        *,
        set_as_current: bool = True,
        task_cls: type[BaseTask[Any, Any]] | str | None = None,
        config_source: Any = None,
        namespace: str | None = None,
        **settings: Any,
    ) -> None:
        self.main = main
        self.conf = Settings()
        self.tasks = TaskRegistry()
        self.middleware = MiddlewareStack(self._default_middleware())
        self.reply_to = str(uuid.uuid4())
        self._transport: Transport | None = None
        self._backend: Backend | None = None
        self._pid = os.getpid()
        self._origin_cache: tuple[int, str] = (0, "")
        #: settings made before the first config source; they win over it (Celery's rule)
        self._preconf: dict[str, Any] | None = None
        self._finalized = False
        self._pending: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        self._init_periodic()
        if isinstance(task_cls, str):
            from celeriac.utils.imports import import_from_string

            self.Task = import_from_string(task_cls)
        elif task_cls is not None:
            self.Task = task_cls
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
        context.registered_apps.append(self)
        if set_as_current:
            self.set_current()
        self._register_builtins()

    @staticmethod
    def _default_middleware() -> list[Any]:
        from celeriac.middleware.error_mails import ErrorMails
        from celeriac.middleware.signals import Signals

        return [Signals(), ErrorMails()]

    def _register_builtins(self) -> None:
        from celeriac.app.builtins import register_builtins

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

    # -- current app -----------------------------------------------------------------
    def set_current(self) -> None:
        """Make this the current app (``current_app``)."""
        context.set_current_app(self)

    def set_default(self) -> None:
        """Alias of :meth:`set_current`."""
        self.set_current()

    # -- configuration ---------------------------------------------------------------
    def config_from_object(
        self, obj: Any, silent: bool = False, force: bool = True, namespace: str | None = None
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

    def _apply_config_source(self, loaded: dict[str, Any]) -> None:
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
        """Import ``<package>.tasks`` for each package (default: the installed Django apps)."""
        if packages is None:
            packages = self._django_apps
        return find_related_modules(packages, related_name)

    @staticmethod
    def _django_apps() -> list[str]:
        try:
            apps = importlib.import_module("django.apps").apps
            return [config.name for config in apps.get_app_configs()]
        except Exception:
            return []

    def finalize(self) -> None:
        """Import the modules listed in ``include``/``imports`` (done by the worker and beat).

        Sends ``on_after_configure`` (once) and then ``on_after_finalize``.
        """
        if self._finalized:
            return
        self._finalized = True
        for module in [*(self.conf.imports or ()), *(self.conf.include or ())]:
            importlib.import_module(module)
        self._configured()
        self.on_after_finalize.send(sender=self)

    # -- periodic tasks (beat) -------------------------------------------------------
    def _init_periodic(self) -> None:
        from celeriac.signals import Signal

        #: Celery's app signals: sent with ``sender=app`` once the configuration is read
        #: (when the app is finalized, by the worker or beat) and once finalized.
        self.on_configure = Signal("on_configure")
        self.on_after_configure = Signal("on_after_configure")
        self.on_after_finalize = Signal("on_after_finalize")
        self._configured_sent = False
        #: entries added with :meth:`add_periodic_task`, read by beat beside ``beat_schedule``
        self._periodic_tasks: dict[str, dict[str, Any]] = {}

    def _configured(self) -> None:
        if not self._configured_sent:
            self._configured_sent = True
            self.on_configure.send(sender=self)
            self.on_after_configure.send(sender=self, source=self.conf)

    def add_periodic_task(
        self,
        schedule: Any,
        sig: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        **opts: Any,
    ) -> str:
        """Add a beat entry that calls the signature ``sig`` on ``schedule`` (Celery's API).

        ``schedule`` is seconds, a timedelta, ``schedule()``, ``crontab()`` or ``solar()``;
        ``opts`` are ``apply_async`` options (``queue``, ``expires``...) and ``relative``.
        Returns the entry's name (``name``, else the signature's repr).
        """
        sig_dict: dict[str, Any] = dict(sig) if not isinstance(sig, str) else {"task": sig}
        key = name or repr(sig)
        relative = bool(opts.pop("relative", False))
        options = {**dict(sig_dict.get("options") or {}), **opts}
        for internal in ("subtask_type", "immutable"):
            options.pop(internal, None)
        self._periodic_tasks[key] = {
            "task": sig_dict["task"],
            "schedule": schedule,
            "args": tuple(args or sig_dict.get("args") or ()),
            "kwargs": dict(kwargs or sig_dict.get("kwargs") or {}),
            "options": options,
            "relative": relative,
        }
        return key

    @property
    def broker_url(self) -> str:
        """The broker URL in effect (the embedded SQLite file when none is set)."""
        url = self.conf.broker_url or os.environ.get("CELERY_BROKER_URL")
        return str(url) if url else DEFAULT_SQLITE_URL

    @property
    def result_backend_url(self) -> str:
        """The result backend in effect (``disabled`` when a broker but no backend is set)."""
        url = self.conf.result_backend or os.environ.get("CELERY_RESULT_BACKEND")
        if url:
            return str(url)
        if self.broker_url == DEFAULT_SQLITE_URL:
            return DEFAULT_SQLITE_URL
        if self.broker_url.startswith("sqlite"):
            return self.broker_url
        if self.broker_url.startswith("memory"):
            return "memory://"
        return "disabled"

    # -- connections -----------------------------------------------------------------
    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # forked: never share a connection with the parent
            self._pid = os.getpid()
            self._transport = None
            self._backend = None

    def _reset_connections(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._backend is not None:
            self._backend.close()
        self._transport = None
        self._backend = None

    def transport_options(self) -> TransportOptions:
        """The transport options from ``broker_transport_options`` and task settings."""
        extra = {**self._broker_settings(), **(self.conf.broker_transport_options or {})}
        return TransportOptions(
            visibility_timeout=float(extra.get("visibility_timeout", 3600.0)),
            max_deliveries=int(self.conf.task_max_deliveries),
            polling_interval=float(extra.get("polling_interval", 0.02)),
            extra=extra,
        )

    def _broker_settings(self) -> dict[str, Any]:
        """Connection settings (``broker_use_ssl``, retries …) as transport option keys.

        Keys given in ``broker_transport_options`` win over these.
        """
        conf = self.conf
        options: dict[str, Any] = {
            "broker_connection_max_retries": conf.broker_connection_max_retries,
            "socket_connect_timeout": conf.broker_connection_timeout,
        }
        on_startup = conf.broker_connection_retry_on_startup
        options["broker_connection_retry_on_startup"] = (
            conf.broker_connection_retry if on_startup is None else on_startup
        )
        if conf.broker_use_ssl:
            options["broker_use_ssl"] = conf.broker_use_ssl
        return options

    def _result_backend_settings(self) -> dict[str, Any]:
        """The ``redis_*`` result settings as backend option keys (the URL and
        ``result_backend_transport_options`` win)."""
        conf = self.conf
        names = {
            "redis_socket_timeout": "socket_timeout",
            "redis_socket_connect_timeout": "socket_connect_timeout",
            "redis_socket_keepalive": "socket_keepalive",
            "redis_retry_on_timeout": "retry_on_timeout",
            "redis_max_connections": "max_connections",
            "redis_backend_health_check_interval": "health_check_interval",
            "redis_client_name": "client_name",
            "redis_username": "username",
            "redis_password": "password",
            "redis_backend_use_ssl": "redis_backend_use_ssl",
            "redis_backend_credential_provider": "credential_provider",
        }
        return {key: conf[name] for name, key in names.items() if conf[name] is not None}

    @property
    def transport(self) -> Transport:
        """The broker transport of this process (created on first use, renewed after fork)."""
        self._check_fork()
        if self._transport is None:
            self._transport = create_transport(self.broker_url, self.transport_options())
        return self._transport

    def connection(self) -> Transport:
        """Celery's name for the broker connection: returns :attr:`transport`."""
        return self.transport

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
            expires = _seconds(self.conf.result_expires)
            options = BackendOptions(
                expires=expires or None,
                serializer=self.conf.result_serializer,
                accept=self.conf.result_accept_content or self.conf.accept_content,
                extra={
                    **self._result_backend_settings(),
                    **(self.conf.result_backend_transport_options or {}),
                },
                failure_expires=_seconds(self.conf.result_failure_expires),
            )
            self._backend = create_backend(self.result_backend_url, options)
        return self._backend

    def close(self) -> None:
        """Close the transport and backend connections of this process."""
        self._reset_connections()

    # -- tasks -----------------------------------------------------------------------
    @overload
    def task(self, fun: Callable[P, Coroutine[Any, Any, R]], /) -> BaseTask[P, R]: ...

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

    def task(self, *args: Any, **options: Any) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(name=..., bind=True)``.

        ``async def`` functions become async tasks that run on the worker's event loop.
        """
        if len(args) == 1 and callable(args[0]) and not options:
            return self._create_task(args[0], {})
        if args:
            raise TypeError("app.task() takes a function or keyword options only")

        def decorator(fun: Callable[..., Any]) -> BaseTask[Any, Any]:
            return self._create_task(fun, options)

        return decorator

    def _create_task(self, fun: Callable[..., Any], options: dict[str, Any]) -> BaseTask[Any, Any]:
        options = dict(options)
        base = options.pop("base", None) or self.Task
        options.pop("shared", None)
        name = options.pop("name", None)
        if name is None and fun.__module__ == "__main__" and self.main:
            name = f"{self.main}.{fun.__name__}"
        existing = self.tasks.get(name) if name else None
        task = base(fun, app=self, name=name, **options)
        if existing is not None and getattr(existing, "_fun", None) is fun:
            return existing  # type: ignore[no-any-return]
        self.tasks.register(task)
        return task

    def register_task(
        self, task: BaseTask[Any, Any] | type[BaseTask[Any, Any]], **options: Any
    ) -> Any:
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
        pid = os.getpid()
        if self._origin_cache[0] != pid:
            self._origin_cache = (pid, f"gen{pid}@{socket.gethostname()}")
        return self._origin_cache[1]

    def _route(
        self,
        name: str,
        args: Any,
        kwargs: Any,
        options: dict[str, Any],
        task: BaseTask[Any, Any] | None,
    ) -> tuple[str, str, str]:
        route = resolve_route(self.conf.task_routes, name, args, kwargs, options, task)
        queue = (
            options.get("queue")
            or route.get("queue")
            or (task.queue if task else None)
            or self.conf.task_default_queue
        )
        if isinstance(queue, dict):
            queue = queue.get("name", self.conf.task_default_queue)
        queue = getattr(queue, "name", queue)
        routing_key = options.get("routing_key") or route.get("routing_key") or queue
        exchange = options.get("exchange") or route.get("exchange") or ""
        if "priority" in route and options.get("priority") is None:
            options["priority"] = route["priority"]
        return str(queue), str(routing_key), str(getattr(exchange, "name", exchange))

    def prepare_task_message(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_type: BaseTask[Any, Any] | None = None,
        **options: Any,
    ) -> tuple[Message, str, float | None]:
        """Build the protocol-v2 message for a call; return ``(message, queue, eta_epoch)``.

        Raises:
            MessageTooLarge: the message exceeds ``task_message_max_size``.
        """
        conf = self.conf
        task = task_type if task_type is not None else self.tasks.get(name)
        queue, routing_key, exchange = self._route(name, args, kwargs, options, task)
        now = self.now()
        countdown = options.get("countdown")
        eta = _as_datetime(options.get("eta"), now)
        if countdown is not None:
            eta = now + timedelta(seconds=float(countdown))
        expires = options.get("expires")
        if expires is None and task is not None:
            expires = task.expires
        if expires is None:
            expires = conf.task_default_expires if "task_default_expires" in conf else None
        parent = context.get_executing_request()
        parent_id = options.get("parent_id")
        root_id = options.get("root_id")
        if parent is not None and parent.id and not parent.called_directly:
            parent_id = parent_id or parent.id
            root_id = root_id or parent.root_id or parent.id
        ignore_result = options.get("ignore_result")
        if ignore_result is None:
            ignore_result = task.resolve_ignore_result() if task else conf.task_ignore_result
        priority = options.get("priority")
        if priority is None and task is not None:
            priority = task.priority
        if priority is None:
            priority = conf.task_default_priority
        serializer = (
            options.get("serializer") or (task.serializer if task else None) or conf.task_serializer
        )
        compression = (
            options.get("compression")
            or (task.compression if task else None)
            or conf.task_compression
        )
        time_limit = options.get("time_limit", task.time_limit if task else None)
        soft_time_limit = options.get("soft_time_limit", task.soft_time_limit if task else None)
        task_id = options.get("task_id") or str(uuid.uuid4())
        message = build_task_message(
            name,
            task_id,
            list(args or ()),
            dict(kwargs or {}),
            eta=eta,
            expires=_as_datetime(expires, now),
            retries=int(options.get("retries", 0)),
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            root_id=root_id,
            parent_id=parent_id,
            group_id=options.get("group_id"),
            group_index=options.get("group_index"),
            shadow=options.get("shadow"),
            origin=options.get("origin") or self._origin(),
            ignore_result=bool(ignore_result),
            callbacks=_signature_dicts(options.get("link")),
            errbacks=_signature_dicts(options.get("link_error")),
            chain=options.get("chain"),
            chord=options.get("chord"),
            headers=options.get("headers"),
            reply_to=options.get("reply_to") or self.reply_to,
            priority=priority,
            exchange=exchange,
            routing_key=routing_key,
            serializer=serializer,
            compression=compression,
            replaced_task_nesting=int(options.get("replaced_task_nesting", 0)),
        )
        limit = conf.task_message_max_size
        if limit and len(message.body) > limit:
            raise MessageTooLarge(
                f"task {name} message is {len(message.body):,} bytes, more than "
                f"task_message_max_size ({limit:,} bytes); pass large data by reference "
                f"or raise the setting"
            )
        return message, queue, eta.timestamp() if eta is not None else None

    def send_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_type: BaseTask[Any, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send a task by name (the task need not be registered in this process).

        Takes the same options as :meth:`Task.apply_async`. Returns an AsyncResult.
        """
        message, queue, eta = self.prepare_task_message(
            name, args, kwargs, task_type=task_type, **options
        )
        self.middleware.before_publish(message, queue)
        retry = options.get("retry", self.conf.task_publish_retry)
        policy = {
            **_DEFAULT_RETRY_POLICY,
            **(self.conf.task_publish_retry_policy or {}),
            **(options.get("retry_policy") or {}),
        }
        self._publish_with_retry(message, queue, eta, retry=bool(retry), policy=policy)
        self.middleware.after_publish(message, queue)
        return self._result_for(message, name)

    async def asend_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_type: BaseTask[Any, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Async twin of :meth:`send_task`."""
        message, queue, eta = self.prepare_task_message(
            name, args, kwargs, task_type=task_type, **options
        )
        self.middleware.before_publish(message, queue)
        await self.transport.apublish(message, queue, priority=message.priority, eta=eta)
        self.middleware.after_publish(message, queue)
        return self._result_for(message, name)

    def _result_for(self, message: Message, name: str) -> Any:
        from celeriac.results.result import AsyncResult

        parent_id = message.headers.get("parent_id")
        parent: AsyncResult[Any] | None = AsyncResult(parent_id, app=self) if parent_id else None
        return AsyncResult(message.headers["id"], app=self, task_name=name, parent=parent)

    def _publish_with_retry(
        self,
        message: Message,
        queue: str,
        eta: float | None,
        *,
        retry: bool,
        policy: dict[str, Any],
    ) -> None:
        attempts = 0
        interval = float(policy.get("interval_start", 0.0))
        while True:
            try:
                self.transport.publish(message, queue, priority=message.priority, eta=eta)
                return
            except BrokerError as exc:
                max_retries = policy.get("max_retries")
                if not retry or (max_retries is not None and attempts >= int(max_retries)):
                    raise
                attempts += 1
                logger.warning(
                    "Publishing %s failed (%s); retry %d in %.2fs",
                    message.headers.get("id"),
                    exc,
                    attempts,
                    interval,
                )
                time.sleep(interval)
                interval = min(
                    interval + float(policy.get("interval_step", 0.2)),
                    float(policy.get("interval_max", 0.2)),
                )

    # -- results ---------------------------------------------------------------------
    def AsyncResult(self, task_id: str, **kwargs: Any) -> Any:
        """A result handle for a task id."""
        from celeriac.results.result import AsyncResult

        return AsyncResult(task_id, app=self, **kwargs)

    def GroupResult(self, group_id: str, results: Any = None, **kwargs: Any) -> Any:
        """A group result handle."""
        from celeriac.results.result import GroupResult

        return GroupResult(group_id, results, app=self, **kwargs)

    def result_meta(
        self,
        task_id: str,
        state: str,
        result: Any,
        *,
        request: Any = None,
        traceback: str | None = None,
        children: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Build the stored meta for a state change, in Celery's shape."""
        if isinstance(result, BaseException):
            result = result_protocol.encode_exception(result)
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
        return result_protocol.build_meta(
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

    def store_state(
        self,
        task_id: str,
        state: str,
        meta: Any,
        *,
        request: Any = None,
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
