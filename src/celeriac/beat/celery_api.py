"""Celery's ``Scheduler`` methods on celeriac's scheduler, for schedulers written for Celery.

A scheduler class written for Celery (a subclass of ``celery.beat.Scheduler`` with the
import renamed, loaded with ``-S``) calls and overrides these: ``Entry``, ``schedule``
(read, assigned, or overridden as a property), ``update_from_dict``, ``merge_inplace``,
``install_default_entries``, ``is_due``, ``reserve``, ``apply_async``, ``send_task``,
``should_sync``/``sync_every``/``sync_every_tasks``, ``populate_heap``, ``adjust``,
``info``, ``connection``/``producer``. celeriac's own loop (``tick``) keeps its heap of
due times; what a Celery subclass puts in ``schedule`` is taken in at the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from celeriac.beat.entry import ScheduleEntry
from celeriac.beat.stores import EntryState

__all__ = ["CelerySchedulerAPI", "SchedulingError"]

logger = logging.getLogger("celery.beat")

#: Celery's ``Scheduler.sync_every``: seconds between syncs of the schedule.
SYNC_EVERY = 3 * 60.0


class SchedulingError(Exception):
    """An entry could not be sent (Celery's ``celery.beat.SchedulingError``)."""


class CelerySchedulerAPI:
    """Celery's scheduler interface over celeriac's entries (mixed into ``Scheduler``)."""

    #: the entry class (a Celery scheduler sets its own)
    Entry: ClassVar[type[ScheduleEntry]] = ScheduleEntry
    #: seconds between calls of :meth:`sync` (Celery's default, 3 minutes)
    sync_every: float = SYNC_EVERY
    #: sync after this many sent tasks (``beat_sync_every``; 0: on the timer only)
    sync_every_tasks: int = 0
    #: Celery's class attribute: this module's logger
    logger: ClassVar[logging.Logger] = logger

    if TYPE_CHECKING:
        app: Any
        changed: threading.Event
        _entries: dict[str, ScheduleEntry]
        _added: set[str]
        _mutex: threading.RLock
        _unconfirmed: dict[str, EntryState]

        def remove(self, name: str) -> bool: ...
        def default_entries(self) -> dict[str, dict[str, Any]]: ...
        def _rebuild(self, now: datetime, *, catch_up: bool) -> None: ...

    def _init_celery_api(self, sync_every_tasks: int | None, producer: Any) -> None:
        conf_every = self.app.conf.beat_sync_every
        self.sync_every_tasks = int(conf_every if sync_every_tasks is None else sync_every_tasks)
        self.Producer = producer
        self._last_sync: float | None = None
        self._tasks_since_sync = 0

    # -- the entries -------------------------------------------------------------------
    @property
    def schedule(self) -> Mapping[str, ScheduleEntry]:
        """The entries by name (a copy: assign to replace them all)."""
        return dict(self._entries)

    @schedule.setter
    def schedule(self, entries: Mapping[str, ScheduleEntry]) -> None:
        self.adopt(entries)

    #: Celery's name of the entries (``self.data``)
    data = schedule

    def get_schedule(self) -> Mapping[str, ScheduleEntry]:
        """The entries by name (Celery's ``get_schedule``)."""
        return self.schedule

    def set_schedule(self, schedule: Mapping[str, ScheduleEntry]) -> None:
        """Replace every entry (Celery's ``set_schedule``)."""
        self.adopt(schedule)

    def adopt(self, entries: Mapping[str, ScheduleEntry]) -> None:
        """Make ``entries`` the schedule: new or replaced entries are scheduled at the next
        tick, entries not in it are dropped, the same entry objects are left alone."""
        with self._mutex:
            for name in set(self._entries) - set(entries):
                self.remove(name)
            for name, entry in entries.items():
                old = self._entries.get(name)
                if old is entry:
                    continue
                if old is not None:
                    entry.version = old.version + 1
                self._entries[name] = entry
                self._added.add(name)
        self.changed.set()

    def _adopt_overridden_schedule(self) -> None:
        """A subclass that overrides the ``schedule`` property (django-celery-beat's
        style) is the source of the entries: take them in before each tick."""
        if type(self).schedule is not CelerySchedulerAPI.schedule:
            self.adopt(self.schedule)

    def _maybe_entry(self, name: str, entry: Any) -> ScheduleEntry:
        if isinstance(entry, ScheduleEntry):
            return entry
        spec = {k: v for k, v in dict(entry).items() if k != "name"}
        return self.Entry(**dict(spec, name=name, app=self.app))

    def update_from_dict(self, dict_: Mapping[str, Any]) -> None:
        """Add or replace entries given as entries or ``beat_schedule``-style dicts."""
        self.adopt({**self._entries, **{n: self._maybe_entry(n, e) for n, e in dict_.items()}})

    def merge_inplace(self, b: Mapping[str, Any]) -> None:
        """Make the schedule ``b``: drop the entries not in it, update the ones in both
        (keeping their run history), add the new ones (Celery's ``merge_inplace``)."""
        merged: dict[str, ScheduleEntry] = {}
        for name, spec in b.items():
            new = self._maybe_entry(name, spec)
            old = self._entries.get(name)
            if old is not None and old.editable_fields_equal(new):
                merged[name] = old
                continue
            if old is not None:
                new.last_run_at, new.total_run_count = old.last_run_at, old.total_run_count
            merged[name] = new
        self.adopt(merged)

    def install_default_entries(self, data: Mapping[str, Any]) -> None:
        """Add ``celery.backend_cleanup`` when results expire and the backend does not
        expire them by itself, unless ``data`` has it."""
        extra = {n: s for n, s in self.default_entries().items() if n not in data}
        if extra:
            self.update_from_dict(extra)

    @staticmethod
    def schedules_equal(
        old_schedules: Mapping[str, ScheduleEntry] | None,
        new_schedules: Mapping[str, ScheduleEntry] | None,
    ) -> bool:
        """Whether two schedules have the same names and editable fields."""
        if old_schedules is None or new_schedules is None:
            return old_schedules is new_schedules
        if set(old_schedules) != set(new_schedules):
            return False
        return all(e.editable_fields_equal(new_schedules[n]) for n, e in old_schedules.items())

    def populate_heap(self, *_: Any, **__: Any) -> None:
        """Recompute every entry's next run (Celery rebuilds its heap here)."""
        with self._mutex:
            self._rebuild(self.app.now(), catch_up=False)

    # -- sending -----------------------------------------------------------------------
    def is_due(self, entry: ScheduleEntry) -> Any:
        """``entry.is_due()``: ``(is_due, seconds until the next check)``."""
        return entry.is_due()

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        """Record a run of ``entry`` now and return the entry after it (``next(entry)``)."""
        new = next(entry)
        new.version = entry.version
        with self._mutex:
            if self._entries.get(entry.name) is entry:
                self._entries[entry.name] = new
            self._unconfirmed[entry.name] = EntryState(new.last_run_at, new.total_run_count)
        return new

    def send_task(self, *args: Any, **kwargs: Any) -> Any:
        """``app.send_task`` (``producer=`` is accepted: celeriac publishes through the
        app's transport)."""
        kwargs.pop("producer", None)
        return self.app.send_task(*args, **kwargs)

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        """Send ``entry``'s task (after :meth:`reserve` when ``advance``); return its result.

        Raises:
            SchedulingError: the task could not be sent.
        """
        entry = self.reserve(entry) if advance else entry
        options = {**dict(entry.options), **kwargs}
        try:
            return self.send_task(entry.task, list(entry.args), dict(entry.kwargs), **options)
        except Exception as exc:
            raise SchedulingError(f"Couldn't apply scheduled task {entry.name}: {exc}") from exc
        finally:
            self._tasks_since_sync += 1

    def should_sync(self) -> bool:
        """Whether :meth:`sync` is due: ``sync_every`` seconds passed, or
        ``sync_every_tasks`` tasks were sent since the last one."""
        last = self._last_sync
        if last is None or time.monotonic() - last > self.sync_every:
            return True
        return bool(self.sync_every_tasks and self._tasks_since_sync >= self.sync_every_tasks)

    def _do_sync(self) -> None:
        try:
            self.sync()
        finally:
            self._last_sync = time.monotonic()
            self._tasks_since_sync = 0

    def sync(self) -> None:
        """Write what is not written yet (overridden by the scheduler)."""

    @staticmethod
    def adjust(n: float | None, drift: float = -0.010) -> float | None:
        """``n`` plus a small drift when positive (Celery's sleep adjustment)."""
        if n and n > 0:
            return n + drift
        return n

    @property
    def info(self) -> str:
        """A line for beat's start-up banner (Celery's ``info``)."""
        return ""

    @property
    def connection(self) -> Any:
        """The app's broker connection (celeriac's transport)."""
        return self.app.connection()

    @property
    def producer(self) -> Any:
        """What Celery passes as ``producer=``: celeriac's transport publishes."""
        return self.connection
