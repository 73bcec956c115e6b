"""Context (``self.request``) and the one function that builds it from a task message."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from celeriac.protocol.task_message import SignatureDict, TaskMessage

__all__ = ["DELIVERY_ONLY", "EXECUTION_ONLY", "Context", "context_from_message"]

#: Context fields that come from the delivery (or the call), not from the message.
DELIVERY_ONLY = frozenset({"is_eager", "called_directly", "hostname", "delivery_count"})
#: Context fields no message carries: what the execution itself records (``children``:
#: the results :meth:`Task.add_trail` collected) and Celery's worker-process details
#: (``logfile``, ``loglevel``, ``utc``), left at Celery's defaults (None).
EXECUTION_ONLY = frozenset({"children", "logfile", "loglevel", "utc"})


@dataclass(slots=True)
class Context:
    """The request of one task execution, read as ``self.request`` inside a bound task.

    Field names are Celery's (``id``, ``retries``, ``delivery_info``, ``root_id`` …).
    Worker and eager executions build it with :func:`context_from_message`; a direct
    call (``task(...)``) gets a blank one with ``called_directly`` set.
    """

    id: str | None = None
    task: str | None = None
    args: list[object] = field(default_factory=list)
    kwargs: dict[str, object] = field(default_factory=dict)
    retries: int = 0
    eta: datetime | None = None
    expires: datetime | None = None
    is_eager: bool = False
    called_directly: bool = True
    hostname: str | None = None
    delivery_info: dict[str, object] = field(default_factory=dict)
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    callbacks: list[SignatureDict] | None = None
    errbacks: list[SignatureDict] | None = None
    chain: list[SignatureDict] | None = None
    chord: SignatureDict | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    origin: str | None = None
    shadow: str | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    ignore_result: bool = False
    priority: int = 0
    headers: dict[str, object] = field(default_factory=dict)
    properties: dict[str, object] = field(default_factory=dict)
    delivery_count: int = 1
    stamps: dict[str, object] = field(default_factory=dict)
    stamped_headers: list[str] | None = None
    replaced_task_nesting: int = 0
    argsrepr: str = ""
    kwargsrepr: str = ""
    #: results of the tasks this execution sent (:meth:`Task.add_trail`), Celery's
    #: ``request.children``
    children: list[object] = field(default_factory=list)
    logfile: str | None = None
    loglevel: int | None = None
    utc: bool | None = None

    @property
    def taskset(self) -> str | None:
        """Celery 3's name of :attr:`group` (an alias, as Celery's compat attribute)."""
        return self.group

    @property
    def delivery_tag(self) -> str | None:
        """The broker's delivery tag of the message (None when called directly or eagerly)."""
        tag = self.properties.get("delivery_tag")
        return str(tag) if tag is not None else None

    @property
    def _payload(self) -> tuple[list[object], dict[str, object], dict[str, object]]:
        """The message body as Celery's worker request keeps it: ``(args, kwargs, embed)``,
        ``embed`` holding the workflow links (``callbacks``, ``errbacks``, ``chain``,
        ``chord``). Celery code (its own tests among it) reads it from the request that
        ``task_received`` gets, also under its private name ``_Request__payload``."""
        embed: dict[str, object] = {
            "callbacks": self.callbacks,
            "errbacks": self.errbacks,
            "chain": self.chain,
            "chord": self.chord,
        }
        return self.args, self.kwargs, embed

    _Request__payload = _payload

    def get(self, key: str, default: object = None) -> object:
        """Dict-style access, as Celery's Context allows."""
        return getattr(self, key, default)

    @property
    def group_id(self) -> str | None:
        """Alias of :attr:`group`."""
        return self.group

    @property
    def time_limit(self) -> float | None:
        """The hard time limit of this execution, seconds (``timelimit[0]``)."""
        return self.timelimit[0]

    @property
    def soft_time_limit(self) -> float | None:
        """The soft time limit of this execution, seconds (``timelimit[1]``)."""
        return self.timelimit[1]

    def update(self, *args: dict[str, object], **kwargs: object) -> None:
        """Set fields from a dict and/or keywords (Celery's ``Context.update``)."""
        for key, value in dict(*args, **kwargs).items():
            setattr(self, key, value)

    def clear(self) -> None:
        """Reset every field to its default."""
        blank = type(self)()
        for item in fields(self):
            setattr(self, item.name, getattr(blank, item.name))

    def as_execution_options(self) -> dict[str, object]:
        """The ``apply_async`` options that send this execution again (``retry``,
        ``signature_from_request``): ids, workflow links, limits, headers, retries."""
        limit_hard, limit_soft = self.timelimit
        return {
            "task_id": self.id, "root_id": self.root_id, "parent_id": self.parent_id,
            "group_id": self.group, "group_index": self.group_index, "shadow": self.shadow,
            "chord": self.chord, "chain": self.chain, "link": self.callbacks,
            "link_error": self.errbacks, "expires": self.expires,
            "soft_time_limit": limit_soft, "time_limit": limit_hard,
            "headers": self.headers, "retries": self.retries, "reply_to": self.reply_to,
            "replaced_task_nesting": self.replaced_task_nesting, "origin": self.origin,
        }  # fmt: skip


def context_from_message(
    message: TaskMessage,
    *,
    hostname: str | None = None,
    queue: str | None = None,
    redelivered: bool = False,
    delivery_count: int = 1,
    is_eager: bool = False,
) -> Context:
    """The request a task sees when it runs ``message`` (in a worker, or eagerly).

    Args:
        message: the task message (decoded by the worker; built, not encoded, when eager).
        hostname: the worker's node name (None when eager).
        queue: the queue it was delivered from: ``delivery_info['routing_key']`` when the
            message has none.
        redelivered: the transport delivered it before (``delivery_info['redelivered']``;
            not set for eager calls).
        delivery_count: how many times it was delivered, this time included.
        is_eager: run in the caller's process (``apply()``, ``task_always_eager``):
            ``delivery_info['is_eager']`` is set, as Celery does.
    """
    info: dict[str, object] = {"is_eager": True} if is_eager else {}
    info.update(message.delivery_info)
    if queue is not None:
        info.setdefault("routing_key", queue)
    if not is_eager:
        info["redelivered"] = redelivered
    info.setdefault("priority", message.priority)
    return Context(
        id=message.id,
        task=message.name,
        args=message.args,
        kwargs=message.kwargs,
        retries=message.retries,
        eta=message.eta,
        expires=message.expires,
        is_eager=is_eager,
        called_directly=False,
        hostname=hostname,
        delivery_info=info,
        root_id=message.root_id,
        parent_id=message.parent_id,
        group=message.group,
        group_index=message.group_index,
        callbacks=message.callbacks,
        errbacks=message.errbacks,
        chain=message.chain,
        chord=message.chord,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        origin=message.origin,
        shadow=message.shadow,
        timelimit=(message.time_limit, message.soft_time_limit),
        ignore_result=bool(message.ignore_result),
        priority=message.priority,
        headers=message.headers,
        properties=message.properties,
        delivery_count=delivery_count,
        stamps=message.stamps,
        stamped_headers=message.stamped_headers,
        replaced_task_nesting=message.replaced_task_nesting,
        argsrepr=message.argsrepr,
        kwargsrepr=message.kwargsrepr,
    )
