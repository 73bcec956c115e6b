"""One periodic task: :class:`ScheduleEntry`, with Celery's constructor and methods.

Celery's keyword arguments (``name``, ``task``, ``last_run_at``, ``total_run_count``,
``schedule``, ``args``, ``kwargs``, ``options``, ``relative``, ``app``) build one, so a
scheduler written for Celery can make its own entries (``Scheduler.Entry``) and subclass
this class. ``next(entry)`` is the entry after a run, as in Celery.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celeriac.beat.schedules import BaseSchedule, maybe_schedule

__all__ = ["ScheduleEntry"]

#: The fields a Celery entry is copied and compared by (``dict(entry)``, ``update``).
EDITABLE_FIELDS = ("task", "schedule", "args", "kwargs", "options")


class ScheduleEntry:
    """One periodic task (Celery's ``celery.beat.ScheduleEntry``).

    Args:
        name: the entry's name (the ``beat_schedule`` key).
        task: the task's name.
        last_run_at: when it last ran (aware UTC), ``None`` before its first run.
        total_run_count: how many times it ran.
        schedule: a schedule, or seconds/``timedelta`` (an interval).
        args, kwargs, options: the task's arguments and ``apply_async`` options.
        relative: round an interval given in seconds to its period (Celery's ``relative``).
        app: the app (its clock and time zone).
    """

    # Class-level defaults: a subclass whose ``__init__`` sets only some fields (as
    # django-celery-beat's ``ModelEntry``) still has the ones the scheduler reads.
    app: Any = None
    last_run_at: datetime | None = None
    total_run_count: int = 0
    #: the next due time (aware UTC), kept by the scheduler
    next_run_at: datetime | None = None
    #: bumped when the entry is replaced, so stale heap items are skipped
    version: int = 0

    def __init__(
        self,
        name: str | None = None,
        task: str | None = None,
        last_run_at: datetime | None = None,
        total_run_count: int | None = None,
        schedule: BaseSchedule | float | timedelta | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        relative: bool = False,
        app: Any = None,
    ) -> None:
        self.app = app
        self.name = str(name or "")
        self.task = str(task or "")
        sched = maybe_schedule(schedule, relative, app=app)
        if sched is None:
            raise ValueError(f"beat entry {name!r} needs a schedule")
        self.schedule: BaseSchedule = sched
        self.args: Sequence[Any] = tuple(args or ())
        self.kwargs: Mapping[str, Any] = dict(kwargs or {})
        self.options: Mapping[str, Any] = dict(options or {})
        self.last_run_at = last_run_at
        self.total_run_count = int(total_run_count or 0)
        self.next_run_at = None
        self.version = 0

    def default_now(self) -> datetime:
        """The time now, by the app's clock when there is an app."""
        if self.app is not None:
            return self.app.now()  # type: ignore[no-any-return]
        return datetime.now(UTC)

    _default_now = default_now

    def __next__(self) -> ScheduleEntry:
        """The entry after a run now: ``last_run_at`` now, one more run counted."""
        return type(self)(
            **dict(self, last_run_at=self.default_now(), total_run_count=self.total_run_count + 1)
        )

    next = __next__

    def update(self, other: ScheduleEntry) -> None:
        """Take ``other``'s task, schedule, arguments and options (a changed entry that
        keeps its run history)."""
        for attr in EDITABLE_FIELDS:
            setattr(self, attr, getattr(other, attr))

    def editable_fields_equal(self, other: ScheduleEntry) -> bool:
        """Whether task, schedule, arguments and options are the same as ``other``'s."""
        return all(getattr(self, a) == getattr(other, a, None) for a in EDITABLE_FIELDS)

    def is_due(self, now: datetime | None = None) -> Any:
        """Celery's ``entry.is_due()``: ``(is_due, seconds until the next check)``."""
        last = self.last_run_at or now or self.default_now()
        return self.schedule.is_due(last, now)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """``dict(entry)``: the constructor's keyword arguments (Celery's ``__iter__``)."""
        yield from (
            ("name", self.name),
            ("task", self.task),
            ("last_run_at", self.last_run_at),
            ("total_run_count", self.total_run_count),
            ("schedule", self.schedule),
            ("args", self.args),
            ("kwargs", self.kwargs),
            ("options", self.options),
            ("app", self.app),
        )

    def __lt__(self, other: object) -> bool:
        if isinstance(other, ScheduleEntry):
            return id(self) < id(other)  # Celery orders entries on the heap by identity
        return NotImplemented

    def __repr__(self) -> str:
        return f"<ScheduleEntry: {self.name} {self.task}(*{list(self.args)}) {self.schedule!r}>"

    def __reduce__(self) -> Any:
        return type(self), (
            self.name,
            self.task,
            self.last_run_at,
            self.total_run_count,
            self.schedule,
            self.args,
            self.kwargs,
            self.options,
        )
