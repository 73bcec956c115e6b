"""Call options and the one precedence rule: call option > task attribute > setting.

``apply_async(**options)`` (and ``retry(**options)``) give a :class:`CallOptions`;
every option left out is :data:`UNSET`. :func:`resolve` picks, for each option, the
call's value when given, else the task's attribute when not ``None``, else the setting.
A given value wins even when falsy: ``apply_async(time_limit=0)`` switches off a task's
or the configuration's time limit. ``None`` passed as an option means "not given", as
in Celery.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol, TypeVar

if TYPE_CHECKING:
    from celeriac.config.settings import Settings

__all__ = [
    "UNSET",
    "CallOptions",
    "ResolvedOptions",
    "TaskDefaults",
    "Unset",
    "check_time_limits",
    "resolve",
    "sent_time_limits",
]

T = TypeVar("T")


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: "Not given": the option falls back to the task's attribute, then to the setting.
UNSET: Final = Unset.UNSET

#: An eta/expires option: a datetime, an ISO 8601 string, or seconds from now.
When = datetime | str | float


class TaskDefaults(Protocol):
    """The task attributes options fall back to (``None``: not set on the task)."""

    @property
    def time_limit(self) -> float | None:
        """Hard time limit in seconds."""
        ...

    @property
    def soft_time_limit(self) -> float | None:
        """Soft time limit in seconds."""
        ...

    @property
    def ignore_result(self) -> bool | None:
        """Do not store the result."""
        ...

    @property
    def priority(self) -> int | None:
        """Message priority."""
        ...

    @property
    def serializer(self) -> str | None:
        """Body serializer."""
        ...

    @property
    def compression(self) -> str | None:
        """Body compression."""
        ...

    @property
    def expires(self) -> float | datetime | None:
        """Default expiry (seconds from the call, or a datetime)."""
        ...

    @property
    def acks_late(self) -> bool | None:
        """Acknowledge after the task ran."""
        ...

    @property
    def reject_on_worker_lost(self) -> bool | None:
        """Give the message back when the worker process dies."""
        ...

    @property
    def track_started(self) -> bool | None:
        """Store STARTED when the task starts."""
        ...


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The options one call gave; each is :data:`UNSET` when not given."""

    time_limit: float | Unset = UNSET
    soft_time_limit: float | Unset = UNSET
    ignore_result: bool | Unset = UNSET
    priority: int | Unset = UNSET
    serializer: str | Unset = UNSET
    compression: str | Unset = UNSET
    expires: When | Unset = UNSET

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> CallOptions:
        """The options of ``apply_async(**options)`` (``None`` and missing keys are UNSET).

        Raises:
            TypeError: an option has a value of the wrong type.
        """
        if options.keys().isdisjoint(_OPTION_NAMES):
            return _NOTHING_GIVEN
        return cls(
            time_limit=_seconds(options.get("time_limit"), "time_limit"),
            soft_time_limit=_seconds(options.get("soft_time_limit"), "soft_time_limit"),
            ignore_result=UNSET
            if options.get("ignore_result") is None
            else bool(options["ignore_result"]),
            priority=_integer(options.get("priority"), "priority"),
            serializer=_name(options.get("serializer"), "serializer"),
            compression=_name(options.get("compression"), "compression"),
            expires=_when(options.get("expires"), "expires"),
        )


#: The options :class:`CallOptions` reads from ``apply_async(**options)``.
_OPTION_NAMES = frozenset(
    {
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "priority",
        "serializer",
        "compression",
        "expires",
    }
)
_NOTHING_GIVEN = CallOptions()


class ResolvedOptions(NamedTuple):
    """The options in effect for one call (see :func:`resolve`)."""

    time_limit: float | None
    soft_time_limit: float | None
    ignore_result: bool
    priority: int | None
    serializer: str
    compression: str | None
    expires: When | None
    acks_late: bool
    reject_on_worker_lost: bool
    track_started: bool


def _pick(given: T | Unset, attribute: T | None, setting: T | None) -> T | None:
    """The rule: the call's value when given (even falsy), else the task's, else the setting."""
    if not isinstance(given, Unset):
        return given
    if attribute is not None:
        return attribute
    return setting


class _NoTask:
    """The attributes of a task this process does not know (``send_task`` by name)."""

    time_limit = soft_time_limit = ignore_result = priority = serializer = None
    compression = expires = acks_late = reject_on_worker_lost = track_started = None


_NO_TASK: TaskDefaults = _NoTask()


class _Defaults(NamedTuple):
    """The settings :func:`resolve` falls back to, read once per change of the settings."""

    time_limit: float | None
    soft_time_limit: float | None
    ignore_result: bool
    priority: int | None
    serializer: str
    compression: str | None
    expires: When | None
    acks_late: bool
    reject_on_worker_lost: bool | None
    track_started: bool


def _defaults(conf: Settings) -> _Defaults:
    expires = conf.get("task_default_expires")  # a custom key (not in the settings table)
    return _Defaults(
        time_limit=conf.task_time_limit,
        soft_time_limit=conf.task_soft_time_limit,
        ignore_result=conf.task_ignore_result,
        priority=conf.task_default_priority,
        serializer=conf.task_serializer,
        compression=conf.task_compression,
        expires=expires if isinstance(expires, datetime | str | int | float) else None,
        acks_late=conf.task_acks_late,
        reject_on_worker_lost=conf.task_reject_on_worker_lost,
        track_started=conf.task_track_started,
    )


def resolve(call: CallOptions, task: TaskDefaults | None, conf: Settings) -> ResolvedOptions:
    """Apply "call option > task attribute > setting" to every option.

    Args:
        call: what the call gave (``CallOptions()`` for nothing).
        task: the registered task, or None when sending a task unknown here by name.
        conf: the app's settings.
    """
    task = _NO_TASK if task is None else task
    # This runs for every call and every task a worker runs: the settings' part is a
    # snapshot, read again only after the settings change.
    conf_ = conf.snapshot(_defaults)
    expires: When | None
    if isinstance(call.expires, Unset):
        expires = task.expires if task.expires is not None else conf_.expires
    else:
        expires = call.expires
    return ResolvedOptions(
        time_limit=_pick(call.time_limit, task.time_limit, conf_.time_limit),
        soft_time_limit=_pick(call.soft_time_limit, task.soft_time_limit, conf_.soft_time_limit),
        ignore_result=bool(_pick(call.ignore_result, task.ignore_result, conf_.ignore_result)),
        priority=_pick(call.priority, task.priority, conf_.priority),
        serializer=str(_pick(call.serializer, task.serializer, conf_.serializer)),
        compression=_pick(call.compression, task.compression, conf_.compression),
        expires=expires,
        acks_late=bool(_pick(UNSET, task.acks_late, conf_.acks_late)),
        reject_on_worker_lost=bool(
            _pick(UNSET, task.reject_on_worker_lost, conf_.reject_on_worker_lost)
        ),
        track_started=bool(_pick(UNSET, task.track_started, conf_.track_started)),
    )


def sent_time_limits(
    call: CallOptions, task: TaskDefaults | None
) -> tuple[float | None, float | None]:
    """The ``timelimit`` a message carries: the call's, else the task's (``None``: neither).

    The settings (``task_time_limit``) are not sent: they apply where the task runs,
    through :func:`resolve`, as Celery's are.
    """
    task = _NO_TASK if task is None else task
    return (
        _pick(call.time_limit, task.time_limit, None),
        _pick(call.soft_time_limit, task.soft_time_limit, None),
    )


def _seconds(value: object, what: str) -> float | Unset:
    if value is None:
        return UNSET
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be a number of seconds, not {value!r}")


def _integer(value: object, what: str) -> int | Unset:
    if value is None:
        return UNSET
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be an integer, not {value!r}")


def _name(value: object, what: str) -> str | Unset:
    if value is None:
        return UNSET
    if isinstance(value, str):
        return value
    raise TypeError(f"{what} must be a name, not {value!r}")


def _when(value: object, what: str) -> When | Unset:
    if value is None:
        return UNSET
    if isinstance(value, datetime | str | int | float) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be a datetime, an ISO 8601 string or seconds, not {value!r}")


def check_time_limits(soft_time_limit: float | None, time_limit: float | None) -> None:
    """Refuse a task whose soft limit is above its hard one: it could never fire.

    Raises:
        ValueError: as Celery's ``apply_async`` does, before anything is sent.
    """
    if soft_time_limit and time_limit and soft_time_limit > time_limit:
        raise ValueError("soft_time_limit must be less than or equal to time_limit")
