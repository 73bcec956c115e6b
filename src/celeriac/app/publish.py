"""The send path: call options → route → resolve → TaskMessage → encode → publish → AsyncResult.

``send_task`` and ``asend_task`` (and so ``delay``/``apply_async`` and their async
twins), group members sent in one batch, and the worker's retries all publish through
here: the same middleware hooks (``before_publish``/``after_publish``) and the same
publish retry policy (``task_publish_retry``/``task_publish_retry_policy``) on the sync
and the async path. Eager mode builds its message here too, without encoding it.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from celeriac.app.declare import declare_before_publish, declares
from celeriac.app.delivery import Outgoing, RetryPolicy, Targets, apublish, publish
from celeriac.app.exchanges import queues_reached
from celeriac.app.pydantic_args import dump_call_arguments
from celeriac.app.routing import Destination, destination
from celeriac.canvas.applike import CanvasApp, CanvasTask
from celeriac.canvas.stamping import message_stamps
from celeriac.config.entities import Queue
from celeriac.config.queues import queue_table
from celeriac.exceptions import MessageTooLarge, Retry
from celeriac.execution import context
from celeriac.execution.options import (
    UNSET,
    CallOptions,
    ResolvedOptions,
    Unset,
    resolve,
    sent_time_limits,
)
from celeriac.protocol.message import Message
from celeriac.protocol.task_message import SignatureDict, TaskMessage, encode, parse_when
from celeriac.results.result import AsyncResult
from celeriac.security.setup import AUTH
from celeriac.transports.contracts import BatchPublish, ExchangeRouting

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.transports.base import Transport

__all__ = [
    "Outgoing",
    "RetryPolicy",
    "apublish",
    "asend",
    "asend_message",
    "build_message",
    "prepare",
    "publish",
    "retry_message",
    "send",
    "send_many",
]

logger = logging.getLogger("celery.app.base")

T = TypeVar("T")
V = TypeVar("V")

#: A task call as canvas hands it over: (name, args, kwargs, apply_async options).
Call = tuple[str, Sequence[object], Mapping[str, object], Mapping[str, object]]


def _mapping(value: object) -> Mapping[str, object]:
    if value is None:  # the common case, without an ABC isinstance check
        return {}
    return value if isinstance(value, Mapping) else {}


def signature_dicts(value: object) -> list[SignatureDict] | None:
    """Normalize ``link``/``link_error`` (one signature or a list) to a list of dicts."""
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    signatures: list[SignatureDict] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"link/link_error takes signatures, not {item!r}")
        signatures.append(dict(item))
    return signatures


def route(
    app: Celery,
    name: str,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    options: Mapping[str, object],
    task: Task[..., object] | None,
) -> Destination:
    """Where a call goes (``task_routes``, the task's attributes, the options); see
    :func:`celeriac.app.routing.destination`."""
    conf = app.conf
    return destination(queue_table(conf), conf.task_routes, name, args, kwargs, options, task)


def targets(app: Celery, where: Destination, headers: Mapping[str, object]) -> Targets:
    """The queues a message sent to ``where`` is stored in: ``None`` for the one queue the
    default exchange names, ``()`` when the broker routes by exchange itself (AMQP), else
    the queues whose bindings match (see :mod:`celeriac.app.exchanges`)."""
    if not where.exchange:
        return None
    if isinstance(app.transport, ExchangeRouting):
        return ()
    table = queue_table(app.conf)
    return tuple(queues_reached(table, where.exchange, where.routing_key, headers, where.declared))


def _parent_ids(options: Mapping[str, object]) -> tuple[str | None, str | None]:
    """``(parent_id, root_id)``: the options', else the task running here (if any)."""
    parent_id = _text(options.get("parent_id"))
    root_id = _text(options.get("root_id"))
    parent = context.get_executing_request()
    if parent is not None and parent.id and not parent.called_directly:
        parent_id = parent_id or parent.id
        root_id = root_id or parent.root_id or parent.id
    return parent_id, root_id


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _eta(options: Mapping[str, object], now: datetime) -> datetime | None:
    countdown = options.get("countdown")
    if countdown is not None:
        if not isinstance(countdown, int | float | str):
            raise TypeError(f"countdown must be a number of seconds, not {countdown!r}")
        return now + timedelta(seconds=float(countdown))
    eta = options.get("eta")
    if eta is not None and not isinstance(eta, datetime | str | int | float):
        raise TypeError(f"expected a datetime or seconds, got {eta!r}")
    return parse_when(eta, now, "eta")


def build_message(
    app: Celery,
    name: str,
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    options: Mapping[str, object],
    task: Task[..., object] | None,
    *,
    now: datetime,
    eager: bool = False,
) -> tuple[TaskMessage, ResolvedOptions, str]:
    """The TaskMessage for a call, the options in effect, and the queue it goes to.

    Eager calls (``eager=True``) are not routed: their ``delivery_info`` holds the
    ``exchange``/``routing_key`` options as given, as Celery's eager requests do; their
    time limits are the ones in effect (call, else task, else the settings), which the
    request shows (eager calls are not stopped by them).
    """
    serializer = options.get("serializer") or getattr(task, "serializer", None)
    serializer = serializer or app.conf.task_serializer
    args, kwargs = dump_call_arguments(task, args, kwargs, serializer)  # pydantic=True
    call_args = list(args or ())
    call_kwargs = dict(kwargs or {})
    call = CallOptions.from_options(options)
    if eager:
        queue = ""
        delivery_info: dict[str, object] = {
            "exchange": options.get("exchange"),
            "routing_key": options.get("routing_key"),
        }
    else:
        where = route(app, name, call_args, call_kwargs, options, task)
        queue = where.queue
        delivery_info = {"exchange": where.exchange, "routing_key": where.routing_key}
        if where.options:
            call = _with_route_options(call, where.options, task)
    resolved = resolve(call, task, app.conf)
    if eager:  # the limits in effect, as a worker resolves them (not enforced eagerly)
        time_limit, soft_time_limit = resolved.time_limit, resolved.soft_time_limit
    else:  # what a message carries: the settings apply where the task runs
        time_limit, soft_time_limit = sent_time_limits(call, task)
    parent_id, root_id = _parent_ids(options)
    message = TaskMessage(
        id=_text(options.get("task_id")) or str(uuid.uuid4()),
        name=name,
        args=call_args,
        kwargs=call_kwargs,
        eta=_eta(options, now),
        expires=parse_when(resolved.expires, now, "expires"),
        retries=_optional_int(options.get("retries")) or 0,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        root_id=root_id,
        parent_id=parent_id,
        group=_text(options.get("group_id")),
        group_index=_optional_int(options.get("group_index")),
        shadow=_text(options.get("shadow")),
        # Celery's way to keep secrets out of logs and events: shown instead of the arguments
        argsrepr=_text(options.get("argsrepr")) or "",
        kwargsrepr=_text(options.get("kwargsrepr")) or "",
        origin=_text(options.get("origin")) or app._origin(),
        # as Celery: the caller's option, else a known task's; null for a task sent by
        # name without it (the worker then applies the task's own)
        ignore_result=_sent_ignore_result(call, task, resolved),
        callbacks=signature_dicts(options.get("link")),
        errbacks=signature_dicts(options.get("link_error")),
        chain=_signature_list(options.get("chain")),
        chord=_signature(options.get("chord")),
        headers=dict(_mapping(options.get("headers"))),
        reply_to=_text(options.get("reply_to")) or app.reply_to,
        priority=resolved.priority or 0,
        delivery_info=delivery_info,
        replaced_task_nesting=_optional_int(options.get("replaced_task_nesting")) or 0,
        properties=_message_properties(options),
        **message_stamps(options),
    )
    return message, resolved, queue


#: AMQP message properties a caller may set through ``apply_async`` (Celery passes its
#: other options on to kombu's ``publish``, which makes them message properties)
MESSAGE_PROPERTIES = ("app_id", "user_id", "message_id")


def _message_properties(options: Mapping[str, object]) -> dict[str, object]:
    return {key: options[key] for key in MESSAGE_PROPERTIES if options.get(key) is not None}


def _with_route_options(
    call: CallOptions, route: Mapping[str, object], task: Task[..., object] | None
) -> CallOptions:
    """A route's priority, serializer and compression, where neither the call nor the
    task's attributes set them (Celery: options > task attributes > route)."""
    given = {
        key: value
        for key, value in route.items()
        if getattr(call, key) is UNSET and getattr(task, key, None) is None
    }
    if not given:
        return call
    found = CallOptions.from_options(given)
    return replace(call, **{key: getattr(found, key) for key in given})


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _signature(value: object) -> SignatureDict | None:
    if value is None:
        return None
    return dict(value) if isinstance(value, Mapping) else None


def _signature_list(value: object) -> list[SignatureDict] | None:
    if not isinstance(value, list | tuple):
        return None
    return [dict(item) for item in value]


def encode_checked(
    app: Celery, message: TaskMessage, resolved: ResolvedOptions, now: datetime | None = None
) -> Message:
    """Encode ``message`` with the resolved serializer and compression; check its size.

    Raises:
        MessageTooLarge: the body exceeds ``task_message_max_size``.
    """
    serializer = resolved.serializer
    signer = app.signer
    if serializer == AUTH:  # Celery's auth: the body inside the signature is JSON
        serializer = "json"
    encoded = encode(message, serializer=serializer, compression=resolved.compression, now=now)
    if signer is not None:
        encoded = signer.sign(encoded, "task")
    limit = app.conf.task_message_max_size
    if limit and len(encoded.body) > limit:
        raise MessageTooLarge(
            f"task {message.name} message is {len(encoded.body):,} bytes, more than "
            f"task_message_max_size ({limit:,} bytes); pass large data by reference "
            f"or raise the setting"
        )
    return encoded


def prepare(
    app: Celery,
    name: str,
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    options: Mapping[str, object],
    task: Task[..., object] | None,
) -> Outgoing:
    """Build, encode and size-check the message for one call."""
    now = app.now()
    message, resolved, queue = build_message(app, name, args, kwargs, options, task, now=now)
    encoded = encode_checked(app, message, resolved, now)
    eta = message.eta.timestamp() if message.eta is not None else None
    if declares(type(app.transport)):
        declare_before_publish(app, queue)
    if message.reply_to:
        app.backend.on_task_call(message.reply_to)  # rpc:// declares its reply queue
    exchange = message.exchange
    if not exchange:
        return Outgoing(message, encoded, queue, eta)
    where = Destination(queue, exchange, message.routing_key or "", {}, _declared(app, queue))
    return Outgoing(message, encoded, queue, eta, targets(app, where, encoded.headers))


def _declared(app: Celery, queue: str) -> Queue:
    return queue_table(app.conf).get(queue)


def result_for(app: Celery, message: TaskMessage) -> AsyncResult[object]:
    """The AsyncResult of a sent message (its parent's when it has one); ``ignored`` when
    the message asks for no result, so that its ``get()`` returns None at once."""
    parent: AsyncResult[object] | None = None
    if message.parent_id:
        parent = AsyncResult(message.parent_id, app=app)
    task = app.tasks.get(message.name)
    result: AsyncResult[object]
    if task is not None and type(task).AsyncResult is not _base_task().AsyncResult:
        # a task class with its own result class (AbortableTask): Celery returns that
        result = task.AsyncResult(message.id, parent=parent)
    else:
        result = AsyncResult(message.id, app=app, task_name=message.name, parent=parent)
    result.ignored = bool(message.ignore_result)
    return result


def _to_parent(
    app: Celery, result: AsyncResult[object], options: Mapping[str, object]
) -> AsyncResult[object]:
    """Record ``result`` in the ``request.children`` of the task running here (when its
    ``trail`` is set), as Celery does; not with ``add_to_parent=False``."""
    parent = context.get_executing_request()
    if parent is None or not parent.task or not options.get("add_to_parent", True):
        return result
    task = app.tasks.get(parent.task)
    if task is not None and task.trail:
        parent.children.append(result)
    return result


@functools.cache
def _base_task() -> type[Task[..., object]]:
    """celeriac's Task class (imported on first use: ``app.task`` imports this module)."""
    from celeriac.app.task import Task

    return Task


def send(
    app: Celery,
    name: str,
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    options: Mapping[str, object],
    task: Task[..., object] | None,
) -> AsyncResult[object]:
    """``send_task``: prepare, ``before_publish``, publish (with retries), ``after_publish``."""
    outgoing = prepare(app, name, args, kwargs, options, task)
    app.middleware.before_publish(outgoing.message, outgoing.queue)
    publish(app.transport, outgoing, lambda: RetryPolicy.for_call(app, options))
    app.middleware.after_publish(outgoing.message, outgoing.queue)
    return _to_parent(app, result_for(app, outgoing.task), options)


async def asend(
    app: Celery,
    name: str,
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    options: Mapping[str, object],
    task: Task[..., object] | None,
) -> AsyncResult[object]:
    """``asend_task``: :func:`send` without blocking the event loop."""
    outgoing = prepare(app, name, args, kwargs, options, task)
    app.middleware.before_publish(outgoing.message, outgoing.queue)
    await apublish(app.transport, outgoing, lambda: RetryPolicy.for_call(app, options))
    app.middleware.after_publish(outgoing.message, outgoing.queue)
    return _to_parent(app, result_for(app, outgoing.task), options)


async def asend_message(
    app: Celery,
    transport: Transport,
    message: TaskMessage,
    queue: str,
    resolved: ResolvedOptions,
) -> None:
    """Publish an already built message (a worker's retry) through ``transport``.

    The same hooks and retry policy as :func:`asend`; ``resolved`` gives the serializer
    and compression.
    """
    encoded = encode_checked(app, message, resolved)
    eta = message.eta.timestamp() if message.eta is not None else None
    outgoing = Outgoing(message, encoded, queue, eta)
    app.middleware.before_publish(encoded, queue)
    await apublish(transport, outgoing, lambda: RetryPolicy.for_call(app, {}))
    app.middleware.after_publish(encoded, queue)


def send_many(app: Celery, calls: Sequence[Call]) -> list[AsyncResult[object]]:
    """Send plain task calls (a group's members) in a few broker round trips when the
    transport can (``publish_many``); one by one otherwise, or for tasks that override
    ``apply_async``. Results come back in the order of ``calls``."""
    results: list[AsyncResult[object] | None] = [None] * len(calls)
    batch: list[tuple[int, Call]] = []
    for index, (name, args, kwargs, options) in enumerate(calls):
        task = app.tasks.get(name)
        if task is not None and task.sends_itself():
            results[index] = _apply_async(task, args, kwargs, options)
        else:
            batch.append((index, (name, args, kwargs, options)))
    transport = app.transport
    if not isinstance(transport, BatchPublish) or len(batch) < 2 or app.conf.task_always_eager:
        for index, (name, args, kwargs, options) in batch:
            task = app.tasks.get(name)
            if task is not None:
                results[index] = _apply_async(task, args, kwargs, options)
            else:
                results[index] = _send_task(app, name, args, kwargs, options)
    else:
        for index, result in _send_batch(app, batch, transport):
            results[index] = result
    return [result for result in results if result is not None]


def _apply_async(
    task: CanvasTask,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    options: Mapping[str, object],
) -> AsyncResult[object]:
    """``task.apply_async(args, kwargs, **options)``, whatever options a subclass takes."""
    return task.apply_async(args, dict(kwargs), **options)


def _send_task(
    app: CanvasApp,
    name: str,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    options: Mapping[str, object],
) -> AsyncResult[object]:
    """``app.send_task(name, args, kwargs, **options)``, whatever options a subclass takes."""
    return app.send_task(name, args, kwargs, **options)


def _send_batch(
    app: Celery,
    batch: list[tuple[int, Call]],
    transport: BatchPublish,
) -> list[tuple[int, AsyncResult[object]]]:
    prepared: list[tuple[int, Outgoing]] = []
    for index, (name, args, kwargs, options) in batch:
        task = app.tasks.get(name)
        if task is not None:
            task._check_arguments(args, dict(kwargs))
        outgoing = prepare(app, name, args, kwargs, options, task)
        app.middleware.before_publish(outgoing.message, outgoing.queue)
        prepared.append((index, outgoing))
    stored = [item for _, item in prepared if item.targets != ()]  # () : the broker routes
    policy = replace(RetryPolicy.for_call(app, {}), retry=True)
    try:
        transport.publish_many(
            [
                (item.message, queue, item.eta)
                for item in stored
                for queue in ((item.queue,) if item.targets is None else item.targets)
            ]
        )
    except Exception as exc:  # BrokerError: send one by one, with the publish retry policy
        logger.warning(
            "Publishing %d group members at once failed (%s); one by one", len(stored), exc
        )
        for item in stored:
            publish(app.transport, item, lambda: policy)
    for _, item in prepared:
        if item.targets == ():
            publish(app.transport, item, lambda: policy)
    results = []
    for index, item in prepared:
        app.middleware.after_publish(item.message, item.queue)
        results.append((index, result_for(app, item.task)))
    return results


# -- retries -------------------------------------------------------------------------------

#: Options of ``retry(**options)`` that route the message anew.
_ROUTING_OPTIONS = ("queue", "exchange", "routing_key")


def _retry_call(
    message: TaskMessage, signal: Retry
) -> tuple[list[object], dict[str, object], dict[str, object], object, object]:
    """``(args, kwargs, options, eta, countdown)`` that ``Task.retry`` put on the signal."""
    sig = signal.sig if isinstance(signal.sig, Mapping) else {}
    args = sig.get("args", message.args)
    kwargs = sig.get("kwargs", message.kwargs)
    options = _mapping(sig.get("options"))
    return (
        list(args) if isinstance(args, list | tuple) else message.args,
        dict(kwargs) if isinstance(kwargs, Mapping) else message.kwargs,
        {key: value for key, value in options.items() if value is not None},
        sig.get("eta"),
        sig.get("countdown"),
    )


def retry_message(
    app: Celery,
    message: TaskMessage,
    signal: Retry,
    task: Task[..., object] | None,
    queue: str,
) -> tuple[TaskMessage, ResolvedOptions, str]:
    """The message that runs a task again: a copy of ``message`` with ``retries + 1``,
    the new eta, args and kwargs, and what ``retry(**options)`` changed. Every other field
    (stamps, reply_to, custom headers and properties …) travels on as it came.

    Returns the new message, the options in effect (serializer, compression) and the
    queue to publish it to (``queue``, the one it came from, unless the retry names one).
    """
    args, kwargs, options, eta, countdown = _retry_call(message, signal)
    now = app.now()
    call = CallOptions.from_options(options)
    delivery_info: dict[str, object] = {
        "exchange": message.exchange or "",
        "routing_key": message.routing_key or queue,
    }
    if any(key in options for key in _ROUTING_OPTIONS):
        where = route(app, message.name, args, kwargs, {"queue": queue, **options}, task)
        queue = where.queue
        delivery_info = {"exchange": where.exchange, "routing_key": where.routing_key}
    new_args = args != message.args or kwargs != message.kwargs
    retried = replace(
        message,
        retries=message.retries + 1,
        args=args,
        kwargs=kwargs,
        eta=_eta({"countdown": countdown} if eta is None else {"eta": eta}, now),
        # rendered anew from new arguments; a sender's own argsrepr stays otherwise
        argsrepr="" if new_args else message.argsrepr,
        kwargsrepr="" if new_args else message.kwargsrepr,
        delivery_info=delivery_info,
        time_limit=_or_current(call.time_limit, message.time_limit),
        soft_time_limit=_or_current(call.soft_time_limit, message.soft_time_limit),
        priority=_or_current(call.priority, message.priority),
        ignore_result=_or_current(call.ignore_result, message.ignore_result),
        expires=message.expires
        if isinstance(call.expires, Unset)
        else parse_when(call.expires, now, "expires"),
        headers=dict(_mapping(options["headers"])) if "headers" in options else message.headers,
        callbacks=signature_dicts(options["link"]) if "link" in options else message.callbacks,
        errbacks=signature_dicts(options["link_error"])
        if "link_error" in options
        else message.errbacks,
    )
    return retried, resolve(call, task, app.conf), queue


def _sent_ignore_result(
    call: CallOptions, task: Task[..., object] | None, resolved: ResolvedOptions
) -> bool | None:
    if isinstance(call.ignore_result, Unset) and task is None:
        return None
    return resolved.ignore_result


def _or_current(given: T | Unset, current: V) -> T | V:
    """A retry option when given, else the message's value."""
    return current if isinstance(given, Unset) else given
