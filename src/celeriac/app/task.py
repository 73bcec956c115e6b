"""Task[P, R]: a registered function with Celery's calling API (delay, apply_async, retry …)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar, cast

from celeriac import states
from celeriac.app import context
from celeriac.app.request import Context
from celeriac.exceptions import (
    Ignore,
    MaxRetriesExceededError,
    Reject,
    Retry,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.canvas.signature import Signature
    from celeriac.results.result import AsyncResult, EagerResult

__all__ = ["Task"]

P = ParamSpec("P")
R = TypeVar("R")

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
    "compression",
    "routing_key",
    "exchange",
)


class Task(Generic[P, R]):
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
    acks_on_failure_or_timeout: bool = True
    reject_on_worker_lost: bool | None = None
    track_started: bool | None = None
    expires: float | datetime | None = None
    priority: int | None = None
    queue: str | None = None
    routing_key: str | None = None
    exchange: str | None = None
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = {}
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600
    retry_jitter: bool = True
    throws: tuple[type[BaseException], ...] = ()
    #: E-mail the admins when this task fails; ``None`` follows ``task_send_error_emails``.
    send_error_emails: bool | None = None
    #: The class that decides about and words error e-mails (default:
    #: ``celeriac.middleware.error_mails.ErrorMail``), as Celery 3's ``Task.ErrorMail``.
    ErrorMail: Any = None
    #: Whether ``run`` takes the task itself as its first argument.
    bind: bool = False
    #: Whether the registered function is ``async def``.
    is_async: bool = False
    abstract: ClassVar[bool] = False
    Request: ClassVar[str] = ""

    def __init__(
        self,
        fun: Callable[..., Any] | None = None,
        *,
        app: Celery | None = None,
        name: str | None = None,
        bind: bool = False,
        **options: Any,
    ) -> None:
        if fun is not None:
            self._fun: Callable[..., Any] | None = fun
            self.__doc__ = fun.__doc__
            self.__wrapped__ = fun
            self.__module__ = fun.__module__
            self.__qualname__ = getattr(fun, "__qualname__", fun.__name__)
        else:
            self._fun = None
        target: Any = fun if fun is not None else type(self).run
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
            self._app = app

    @property
    def app(self) -> Celery:
        """The app this task belongs to (the current app for a ``shared_task``)."""
        return self._app if self._app is not None else context.get_current_app()

    @app.setter
    def app(self, value: Celery) -> None:
        self._app = value

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
    def backend(self) -> Any:
        """The app's result backend."""
        return self.app.backend

    # -- calling -----------------------------------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Send the task with these arguments; shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Async twin of :meth:`delay` for asyncio producers."""
        return await self.aapply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
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
        if self.app.conf.task_always_eager:
            return cast(
                "AsyncResult[R]",
                self.apply(
                    args, kwargs, task_id=task_id, link=link, link_error=link_error, **options
                ),
            )
        return cast(
            "AsyncResult[R]",
            self.app.send_task(
                self.name,
                args,
                kwargs,
                task_id=task_id,
                link=link,
                link_error=link_error,
                shadow=shadow,
                task_type=self,
                **options,
            ),
        )

    async def aapply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[R]:
        """Async twin of :meth:`apply_async`: publishing does not block the event loop."""
        self._check_arguments(args, kwargs)
        if self.app.conf.task_always_eager:
            return cast(
                "AsyncResult[R]", await asyncio.to_thread(self.apply, args, kwargs, **options)
            )
        return cast(
            "AsyncResult[R]",
            await self.app.asend_task(self.name, args, kwargs, task_type=self, **options),
        )

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        throw: bool | None = None,
        retries: int = 0,
        **options: Any,
    ) -> EagerResult[R]:
        """Execute the task here and now, through the worker's execution path.

        Retries run again at once (no countdown), callbacks are applied eagerly.
        Exceptions are raised when ``throw`` (default: ``task_eager_propagates``).
        """
        from celeriac.app.eager import apply_eagerly

        return apply_eagerly(
            self,
            list(args or ()),
            dict(kwargs or {}),
            task_id=task_id,
            link=link,
            link_error=link_error,
            throw=throw,
            retries=retries,
            options=options,
        )

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

    def _check_arguments(self, args: Sequence[Any] | None, kwargs: dict[str, Any] | None) -> None:
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
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Signature:
        """A signature of this task with partial args, kwargs and options."""
        from celeriac.canvas.signature import Signature

        return Signature(self.name, args, kwargs, options=options, app=self.app)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """Shortcut for ``signature(args, kwargs)``."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: the parent's result is not prepended to its args."""
        from celeriac.canvas.signature import Signature

        return Signature(self.name, args, kwargs, immutable=True, app=self.app)

    def map(self, it: Any) -> Signature:
        """``xmap``: one message that calls this task for every item of ``it``."""
        from celeriac.canvas.primitives import xmap

        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Any) -> Signature:
        """``xstarmap``: one message that calls this task with ``*item`` for every item."""
        from celeriac.canvas.primitives import xstarmap

        return xstarmap(self.s(), it, app=self.app)

    def chunks(self, it: Any, n: int) -> Signature:
        """Split ``it`` into chunks of ``n`` items, one ``starmap`` message each."""
        from celeriac.canvas.primitives import chunks

        return chunks(self.s(), it, n, app=self.app)

    def replace(self, sig: Any) -> None:
        """Replace this running task by ``sig``, which takes over its id, callbacks, chain
        and chord membership (Celery's ``Task.replace``). Raises Ignore: this run stores
        nothing; the replacement's result is stored under this task's id.
        """
        from celeriac.canvas.chord import chord
        from celeriac.canvas.primitives import chain
        from celeriac.canvas.signature import group, maybe_signature

        replacement = maybe_signature(sig, self.app)
        if replacement is None:
            raise ValueError("replace() needs a signature")
        if isinstance(replacement, chord) or "chord" in replacement["options"]:
            raise ValueError("a task cannot be replaced by a chord")
        if isinstance(replacement, chain) and not replacement.tasks:
            raise ValueError("a task cannot be replaced by an empty chain")
        request = self.request
        if isinstance(replacement, group):
            accumulate = self.app.tasks["celery.accumulate"].s(index=0)
            replacement = chord(replacement, accumulate, app=self.app)
        for callback in request.callbacks or ():
            replacement.link(maybe_signature(callback, self.app))  # type: ignore[arg-type]
        for errback in request.errbacks or ():
            replacement.link_error(maybe_signature(errback, self.app))  # type: ignore[arg-type]
        replacement.freeze(request.id)
        nesting = int(request.headers.get("replaced_task_nesting") or 0) + 1
        replacement.set(
            chord=request.chord,
            group_id=request.group,
            group_index=request.group_index,
            root_id=request.root_id,
            replaced_task_nesting=nesting,
        )
        for step in reversed(request.chain or ()):
            replacement = replacement | maybe_signature(step, self.app)
        replacement.apply_async()
        raise Ignore("Replaced by new task")

    def add_to_chord(self, sig: Any, lazy: bool = False) -> Any:
        """Add ``sig`` to the chord this task belongs to; the body waits for it too."""
        from celeriac.canvas.signature import maybe_signature

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
        if not hasattr(backend, "add_to_chord"):
            raise NotImplementedError(f"{type(backend).__name__} does not count chord parts")
        backend.add_to_chord(request.group, 1)
        return added if lazy else (added.apply_async(), result)[1]

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult[R]:
        """The result handle of one of this task's executions."""
        from celeriac.results.result import AsyncResult

        return AsyncResult(task_id, app=self.app, task_name=self.name, **kwargs)

    # -- inside a running task -----------------------------------------------------
    def retry(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
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
        when: Any = eta if eta is not None else countdown
        signal = Retry(exc=exc, when=when)
        signal.sig = {
            "args": list(args) if args is not None else list(request.args),
            "kwargs": dict(kwargs) if kwargs is not None else dict(request.kwargs),
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
            countdown: Any = self.retry_kwargs.get("countdown", self.default_retry_delay)
            return float(countdown)
        factor = 1.0 if self.retry_backoff is True else float(self.retry_backoff)
        delay: float = min(factor * (2.0**retries), float(self.retry_backoff_max))
        if self.retry_jitter:
            delay = random.uniform(0, delay)
        return delay

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None, **_: Any
    ) -> None:
        """Store a state (e.g. ``PROGRESS``) and meta for this task, visible to its AsyncResult."""
        task_id = task_id or self.request.id
        if not task_id:
            raise ValueError("update_state() needs a task_id outside of a running task")
        self.app.store_state(task_id, state or states.PENDING, meta, request=self.request)

    def send_event(self, type_: str, **fields: Any) -> None:
        """Send a custom task event (events arrive in a later release; this is a no-op)."""

    # -- hooks (override in a base class) --------------------------------------------
    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Called before the task body runs."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        """Called after the task succeeded."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Called after the task failed."""

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Called when the task is to be retried."""

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Called after the task returned, whatever the outcome."""

    def resolve_acks_late(self) -> bool:
        """``acks_late`` for this task (its own option, else ``task_acks_late``)."""
        if self.acks_late is None:
            return bool(self.app.conf.task_acks_late)
        return self.acks_late

    def resolve_ignore_result(self) -> bool:
        """``ignore_result`` for this task (its own option, else ``task_ignore_result``)."""
        if self.ignore_result is None:
            return bool(self.app.conf.task_ignore_result)
        return self.ignore_result


# Names Celery re-exports that control flow uses.
__control_flow__ = (Ignore, Reject, Retry)
