"""Task[P, R]: a registered function with Celery's calling API (delay, apply_async, retry …)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar, cast

from celeriac import states
from celeriac.app.fixups import on_commit
from celeriac.app.replace import replacement_for
from celeriac.app.task_hooks import TaskHooks
from celeriac.app.task_requests import TaskRequests
from celeriac.backends.base import Backend, ChordBackend
from celeriac.canvas import chunks, maybe_signature, xmap, xstarmap
from celeriac.canvas.signature import ResultHandle, Signature
from celeriac.exceptions import (
    Ignore,
    MaxRetriesExceededError,
    Reject,
    Retry,
)
from celeriac.execution import context
from celeriac.execution.options import CallOptions, check_time_limits, resolve
from celeriac.execution.request import Context
from celeriac.execution.retry_args import retry_arguments
from celeriac.results.result import AsyncResult, EagerResult

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Task"]

P = ParamSpec("P")
R = TypeVar("R", covariant=True)

#: No call options: what a task's own attributes and the settings decide.
_NO_OPTIONS = CallOptions()

#: Options ``apply_async`` understands; anything else is passed through as message properties.
_TASK_OPTION_NAMES = (
    "queue",
    "rate_limit",
    "rate_limit_scope",
    "ignore_result",
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "dont_autoretry_for",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "retry_kwargs",
    "acks_late",
    "reject_on_worker_lost",
    "time_limit",
    "soft_time_limit",
    "expires",
    "priority",
    "serializer",
    "track_started",
    "typing",
    "store_errors_even_if_ignored",
    "throws",
    "acks_on_failure_or_timeout",
    "acks_on_failure",
    "acks_on_timeout",
    "compression",
    "routing_key",
    "exchange",
)


class Task(TaskRequests, TaskHooks, Generic[P, R]):
    """A task: a function (``run``) registered under a name, with Celery's options.

    Create tasks with ``@app.task`` or ``@shared_task``; subclass ``Task`` (or
    ``app.Task``) to share behaviour and pass it as ``base=``. A class-based task
    overrides :meth:`run` and is registered with ``app.register_task``.

    Options default to the app's settings when left as ``None``.
    """

    #: Registered name; defaults to ``module.function``.
    name: str = ""
    _app: Celery | None = None
    #: Check call arguments against the signature when calling (Celery's ``typing``).
    typing: bool = True
    max_retries: int | None = 3
    default_retry_delay: float = 180
    rate_limit: str | float | None = None
    #: ``'worker'``: ``rate_limit`` holds per worker node (Celery); ``'global'``: across
    #: every worker on the broker. ``None`` follows ``task_rate_limit_scope``.
    rate_limit_scope: str | None = None
    ignore_result: bool | None = None
    store_errors_even_if_ignored: bool | None = None
    serializer: str | None = None
    compression: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    acks_late: bool | None = None
    reject_on_worker_lost: bool | None = None
    track_started: bool | None = None
    expires: float | datetime | None = None
    priority: int | None = None
    queue: str | None = None
    routing_key: str | None = None
    exchange: str | None = None
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = {}  # passed on as retry(**retry_kwargs)
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600
    retry_jitter: bool = True
    throws: tuple[type[BaseException], ...] = ()
    #: E-mail the admins when this task fails; ``None`` follows ``task_send_error_emails``.
    send_error_emails: bool | None = None
    #: The class that decides about and words error e-mails (default:
    #: ``celeriac.middleware.error_mails.ErrorMail``), as Celery 3's ``Task.ErrorMail``.
    ErrorMail: type | None = None
    #: Whether ``run`` takes the task itself as its first argument.
    bind: bool = False
    #: Whether the registered function is ``async def``.
    is_async: bool = False
    _decorated_fun: Callable[..., object] | None = None  # the function @app.task was given
    _dump_pydantic_arguments: Callable[..., tuple[Any, Any]] | None = None  # pydantic=True
    abstract: ClassVar[bool] = False
    Request: ClassVar[str] = ""

    def __init__(
        self,
        fun: Callable[..., object] | None = None,
        *,
        app: Celery | None = None,
        name: str | None = None,
        bind: bool = False,
        **options: object,
    ) -> None:
        if fun is not None:
            self._fun: Callable[..., object] | None = fun
            self.__doc__ = fun.__doc__
            self.__wrapped__ = fun
            self.__module__ = fun.__module__
            self.__qualname__ = getattr(fun, "__qualname__", fun.__name__)
        else:
            self._fun = None
        target: Callable[..., object] = fun if fun is not None else type(self).run
        self.is_async = inspect.iscoroutinefunction(target)
        self.bind = bind
        for key, value in options.items():
            setattr(self, key, value)
        if name:
            self.name = name
        elif not self.name:
            module = getattr(target, "__module__", type(self).__module__)
            self.name = f"{module}.{getattr(target, '__name__', type(self).__name__)}"
        if app is not None:
            self.app = app

    @property
    def app(self) -> Celery:
        """The app this task belongs to (the current app for a ``shared_task``)."""
        if self._app is not None:
            return self._app
        # The only app class registers itself as the default app's factory.
        return cast("Celery", context.get_current_app())

    @app.setter
    def app(self, value: Celery) -> None:
        self._app = value
        type(self).on_bound(value)

    # -- the body ----------------------------------------------------------------
    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """The task body. Function tasks call the decorated function."""
        if self._fun is None:
            raise NotImplementedError(f"task {self.name} has no run() method")
        if self.bind:
            return cast(R, self._fun(self, *args, **kwargs))
        return cast(R, self._fun(*args, **kwargs))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task in this process, now (no broker, no result stored).

        As in Celery, a direct call gets a fresh request (``called_directly``), while the
        worker calling an overridden ``__call__`` keeps its execution's request.
        """
        current = context.get_current_request()
        if (
            isinstance(current, Context)
            and current.task == self.name
            and not current.called_directly
        ):
            request = dataclasses.replace(current, args=list(args), kwargs=dict(kwargs))
        else:
            request = Context(task=self.name, args=list(args), kwargs=dict(kwargs))
        token = context.push_task(self)
        request_token = context.push_request(request)
        try:
            return self.run(*args, **kwargs)
        finally:
            context.pop_request(request_token)
            context.pop_task(token)

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {getattr(self.app, 'main', None) or '__main__'}>"

    # -- state -------------------------------------------------------------------
    @property
    def request(self) -> Context:
        """The request of the current execution (a blank one outside a worker)."""
        current = context.get_current_request()
        if isinstance(current, Context) and current.task in (self.name, None):
            return current
        return current if isinstance(current, Context) else Context(task=self.name)

    @property
    def backend(self) -> Backend:
        """The app's result backend."""
        return self.app.backend

    # -- calling -----------------------------------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Send the task with these arguments; shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def delay_on_commit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """:meth:`delay` once the current database transaction commits (Django's
        ``transaction.on_commit``; at once outside a transaction). Returns None: the
        task is not sent yet, and is never sent if the transaction rolls back."""
        on_commit(self.app.fixups, functools.partial(self.delay, *args, **kwargs))

    def apply_async_on_commit(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: Any,
    ) -> None:
        """:meth:`apply_async` once the current database transaction commits."""
        on_commit(self.app.fixups, functools.partial(self.apply_async, args, kwargs, **options))

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Async twin of :meth:`delay` for asyncio producers."""
        return await self.aapply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        *,
        task_id: str | None = None,
        link: object = None,
        link_error: object = None,
        shadow: str | None = None,
        **options: object,
    ) -> AsyncResult[R]:
        """Send the task to a worker.

        Args:
            args: positional arguments.
            kwargs: keyword arguments.
            task_id: the id to use (a UUID4 by default).
            link: signature(s) applied with the result on success.
            link_error: signature(s) applied on failure.
            shadow: another name to show in logs and monitors.
            **options: Celery's options: ``countdown``, ``eta``, ``expires``, ``queue``,
                ``routing_key``, ``exchange``, ``priority``, ``headers``, ``ignore_result``,
                ``serializer``, ``compression``, ``time_limit``, ``soft_time_limit``,
                ``retry``, ``retry_policy``.

        Returns:
            The task's AsyncResult (an EagerResult when ``task_always_eager`` is set).
        """
        self._check_arguments(args, kwargs)
        # Any: a Celery subclass may take more send_task options than the base class.
        call: dict[str, Any] = {**options, "task_id": task_id, "link": link}
        call["link_error"] = link_error
        if self.app.conf.task_always_eager:
            return self._eager(args, kwargs, call)
        shadow = shadow or self._shadow_for(args, kwargs, call)
        sent = self.app.send_task(self.name, args, kwargs, task_type=self, shadow=shadow, **call)
        return cast("AsyncResult[R]", sent)  # the result of this task: R

    async def aapply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> AsyncResult[R]:
        """Async twin of :meth:`apply_async`: publishing does not block the event loop."""
        self._check_arguments(args, kwargs)
        if self.app.conf.task_always_eager:
            return await asyncio.to_thread(self._eager, args, kwargs, options)
        call: dict[str, Any] = dict(options)  # as in apply_async
        call["shadow"] = call.get("shadow") or self._shadow_for(args, kwargs, call)
        sent = await self.app.asend_task(self.name, args, kwargs, task_type=self, **call)
        return cast("AsyncResult[R]", sent)  # the result of this task: R

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        *,
        task_id: str | None = None,
        link: object = None,
        link_error: object = None,
        throw: bool | None = None,
        retries: int = 0,
        **options: object,
    ) -> EagerResult[R]:
        """Execute the task here and now, through the worker's execution path.

        Retries run again at once (no countdown), callbacks are applied eagerly.
        Exceptions are raised when ``throw`` (default: ``task_eager_propagates``).
        """
        options = {
            **options,
            "task_id": task_id,
            "link": link,
            "link_error": link_error,
            "retries": retries,
            "throw": throw,
        }
        return self._eager(args, kwargs, options)

    def _eager(
        self,
        args: Sequence[object] | None,
        kwargs: Mapping[str, object] | None,
        options: Mapping[str, object],
    ) -> EagerResult[R]:
        from celeriac.app.eager import apply_eagerly  # eager runs tasks: it imports this

        throw = options.get("throw")
        result = apply_eagerly(
            self, args, kwargs, options, throw=None if throw is None else bool(throw)
        )
        return cast("EagerResult[R]", result)  # the result of this task: R

    @classmethod
    def sends_itself(cls) -> bool:
        """Whether this task class overrides ``apply_async`` (its calls are not batched)."""
        return cls.apply_async is not Task.apply_async

    def _call_signature(self) -> inspect.Signature | None:
        """The function's signature, computed once (it is checked on every call)."""
        cached: inspect.Signature | bool | None = self.__dict__.get("_signature_cache", False)
        if cached is False:
            try:
                cached = inspect.signature(self._fun) if self._fun is not None else None
            except (TypeError, ValueError):
                cached = None
            self.__dict__["_signature_cache"] = cached
        return cached if isinstance(cached, inspect.Signature) else None

    def _check_arguments(
        self, args: Sequence[object] | None, kwargs: Mapping[str, object] | None
    ) -> None:
        check_time_limits(self.soft_time_limit, self.time_limit)  # as Celery's apply_async
        if not self.typing or self._fun is None:
            return
        signature = self._call_signature()
        if signature is None:
            return
        call_args = list(args or ())
        if self.bind:
            call_args.insert(0, self)
        try:
            signature.bind(*call_args, **(kwargs or {}))
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}") from None

    # -- signatures ----------------------------------------------------------------
    def signature(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> Signature:
        """A signature of this task with partial args, kwargs and options."""
        return Signature(self.name, args, kwargs, options=options, app=self.app)

    subtask = signature

    def s(self, *args: object, **kwargs: object) -> Signature:
        """Shortcut for ``signature(args, kwargs)``."""
        return self.signature(args, kwargs)

    def si(self, *args: object, **kwargs: object) -> Signature:
        """An immutable signature: the parent's result is not prepended to its args."""
        return Signature(self.name, args, kwargs, immutable=True, app=self.app)

    def map(self, it: Iterable[object]) -> Signature:
        """``xmap``: one message that calls this task for every item of ``it``."""
        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Iterable[object]) -> Signature:
        """``xstarmap``: one message that calls this task with ``*item`` for every item."""
        return xstarmap(self.s(), it, app=self.app)

    def chunks(self, it: Iterable[object], n: int) -> Signature:
        """Split ``it`` into chunks of ``n`` items, one ``starmap`` message each."""
        return chunks(self.s(), it, n, app=self.app)

    def replace(self, sig: Signature | Mapping[str, object]) -> Any:
        """Replace this running task by ``sig``, which takes over its id, callbacks, chain
        and chord membership (Celery's ``Task.replace``), then hand it to
        :meth:`on_replace`. Raises Ignore: this run stores nothing; the replacement's
        result is stored under this task's id (eagerly: its result is returned).
        """
        return self.on_replace(replacement_for(self, sig))

    def on_replace(self, sig: Signature) -> Any:
        """Send the replacement ``sig`` (Celery 5.3+'s hook: a subclass may stamp or change
        it first, then must return ``super().on_replace(sig)``)."""
        if self.request.is_eager:
            return sig.apply().get()
        sig.apply_async()
        raise Ignore("Replaced by new task")

    def add_to_chord(
        self, sig: Signature | Mapping[str, object], lazy: bool = False
    ) -> Signature | ResultHandle:
        """Add ``sig`` to the chord this task belongs to; the body waits for it too."""
        request = self.request
        if not request.chord or not request.group:
            raise ValueError("the current task is not a member of any chord")
        added = maybe_signature(sig, self.app)
        if added is None:
            raise ValueError("add_to_chord() needs a signature")
        added.set(
            group_id=request.group,
            group_index=request.group_index,
            chord=request.chord,
            root_id=request.root_id,
        )
        result = added.freeze()
        backend = self.app.backend
        if not isinstance(backend, ChordBackend):
            raise NotImplementedError(f"{type(backend).__name__} does not count chord parts")
        backend.add_to_chord(request.group, 1)
        if lazy:
            return added
        added.apply_async()
        return result

    def AsyncResult(
        self, task_id: str, *, parent: AsyncResult[object] | None = None
    ) -> AsyncResult[R]:
        """The result handle of one of this task's executions."""
        return AsyncResult(task_id, app=self.app, task_name=self.name, parent=parent)

    # -- inside a running task -----------------------------------------------------
    def retry(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: object,
    ) -> Retry:
        """Ask the worker to run this task again later with the same id.

        Raises:
            Retry: always when ``throw`` is true (let it propagate).
            MaxRetriesExceededError: retries are exhausted and no ``exc`` was given
                (when ``exc`` is given, that exception is raised instead).
        """
        request = self.request
        limit = self.max_retries if max_retries is None else max_retries
        if limit is not None and request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{request.args} "
                f"kwargs:{request.kwargs}",
                task_args=request.args,
                task_kwargs=request.kwargs,
            )
        if eta is None and countdown is None:
            countdown = self.default_retry_delay
        when: datetime | float | None = eta if eta is not None else countdown
        signal = Retry(exc=exc, when=when)
        body = self.__dict__.get("__wrapped__", self.run)
        if self.__dict__.get("__wrapped__") is not None and getattr(self, "bind", False):
            body = functools.partial(body, self)  # the signature without ``self``
        new_args, new_kwargs = retry_arguments(body, request.args, request.kwargs, args, kwargs)
        signal.sig = {
            "args": new_args,
            "kwargs": new_kwargs,
            "eta": eta,
            "countdown": countdown,
            "options": options,
        }
        if throw:
            raise signal
        return signal

    def retry_delay_for(self, retries: int) -> float:
        """Seconds to wait before the next automatic retry (``retry_backoff`` and jitter)."""
        if not self.retry_backoff:
            countdown = self.retry_kwargs.get("countdown", self.default_retry_delay)
            return float(countdown)
        factor = 1.0 if self.retry_backoff is True else float(self.retry_backoff)
        delay: float = min(factor * (2.0**retries), float(self.retry_backoff_max))
        if self.retry_jitter:
            delay = random.uniform(0, delay)
        return delay

    def update_state(
        self,
        task_id: str | None = None,
        state: str | None = None,
        meta: object = None,
        **_: object,
    ) -> None:
        """Store a state (e.g. ``PROGRESS``) and meta for this task, visible to its AsyncResult."""
        task_id = task_id or self.request.id
        if not task_id:
            raise ValueError("update_state() needs a task_id outside of a running task")
        self.app.store_state(task_id, state or states.PENDING, meta, request=self.request)

    def send_event(
        self, type_: str, retry: bool = True, retry_policy: object = None, **fields: Any
    ) -> None:
        """Send a custom event about the running task (``self.send_event('task-progress',
        done=3)``) on the events exchange, as Celery does: from the worker's node name, with
        the task's id as ``uuid``, whether or not the worker runs with ``-E``. An event that
        cannot be sent is logged and dropped (``retry``/``retry_policy`` are accepted)."""
        with self.app.events.Dispatcher(hostname=self.request.hostname) as dispatcher:
            dispatcher.send(type_, uuid=self.request.id, **fields)

    def annotate(self) -> None:
        """Set the attributes ``task_annotations`` gives this task (done at finalize)."""
        from celeriac.app.annotations import apply_annotations

        apply_annotations(self, self.app.conf.task_annotations)

    # -- hooks (override in a base class) --------------------------------------------
    def before_start(
        self, task_id: str, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> None:
        """Called before the task body runs."""

    def on_success(
        self, retval: object, task_id: str, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> None:
        """Called after the task succeeded."""

    def on_failure(
        self,
        exc: BaseException,
        task_id: str,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        einfo: str | None,
    ) -> None:
        """Called after the task failed (``einfo``: the formatted traceback)."""

    def on_retry(
        self,
        exc: BaseException,
        task_id: str,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        einfo: str | None,
    ) -> None:
        """Called when the task is to be retried."""

    def after_return(
        self,
        status: str,
        retval: object,
        task_id: str,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        einfo: str | None,
    ) -> None:
        """Called after the task returned, whatever the outcome."""

    def resolve_acks_late(self) -> bool:
        """``acks_late`` for this task (its own option, else ``task_acks_late``)."""
        return resolve(_NO_OPTIONS, self, self.app.conf).acks_late

    def resolve_ignore_result(self) -> bool:
        """``ignore_result`` for this task (its own option, else ``task_ignore_result``)."""
        return resolve(_NO_OPTIONS, self, self.app.conf).ignore_result


# Names Celery re-exports that control flow uses.
__control_flow__ = (Ignore, Reject, Retry)
