"""``celeriac beat -S django``: beat's entries are the enabled rows of the periodic-task table.

An idle tick reads one row, the trigger (``PeriodicTasks.last_update``). When it has
moved, the scheduler reads the change log past the last id it saw and reloads only the
rows those changes touch; a change made by a writer that logs nothing (django-celery-beat
itself, or ``PeriodicTask.objects.update()`` followed by ``PeriodicTasks.update_changed()``)
reloads the whole table once. Last runs go to the rows and, as for every celeriac beat, to
the broker beside the leader lock (so one leader fires, and a new leader never repeats a run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from celeriac.beat.scheduler import ScheduleEntry, Scheduler
from celeriac.beat.stores import EntryState, FileStore, Store
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.contrib.django.beat.database import Row

__all__ = ["DEFAULT_MAX_INTERVAL", "DatabaseScheduler"]

logger = own_logger(__name__)

#: Longest sleep between two reads of the trigger when ``beat_max_loop_interval`` is unset
#: (django-celery-beat's default too): an admin edit reaches beat within this many seconds.
DEFAULT_MAX_INTERVAL = 5.0
#: Seconds between two prunes of the change log by the leader.
PRUNE_EVERY = 3600.0
_EPSILON = timedelta(microseconds=1)


def setup_django() -> None:
    """Set Django up if the process has not (``celeriac beat`` without the Django fixup).

    Raises:
        ImproperlyConfigured: ``DJANGO_SETTINGS_MODULE`` is not set.
    """
    from django.apps import apps

    if apps.ready:
        return
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ImproperlyConfigured(
            "the django scheduler needs DJANGO_SETTINGS_MODULE (set it in proj/celery.py, "
            "as the Django tutorial does)"
        )
    import django

    django.setup()


@dataclass(slots=True)
class _Meta:
    """What the scheduler keeps of a row beside its entry."""

    id: int
    one_off: bool
    start_time: datetime | None
    expires: datetime | None
    is_interval: bool


class DatabaseScheduler(Scheduler):
    """Periodic tasks from the database (``-S django``, or django-celery-beat's
    ``django_celery_beat.schedulers:DatabaseScheduler``)."""

    #: this scheduler keeps no schedule file (``-s`` is ignored)
    uses_schedule_file: ClassVar[bool] = False

    def __init__(
        self,
        app: Any,
        *,
        stores: Iterable[Store] = (),
        max_interval: float | None = None,
        missed_run_policy: str | None = None,
        lazy: bool = True,
        **kwargs: Any,
    ) -> None:
        setup_django()
        from celeriac.contrib.django.beat import database

        self.db = database
        kept = [store for store in stores if not isinstance(store, FileStore)]
        interval = max_interval or app.conf.beat_max_loop_interval or DEFAULT_MAX_INTERVAL
        super().__init__(
            app,
            stores=[*kept, database.DatabaseStore()],
            max_interval=interval,
            missed_run_policy=missed_run_policy,
            lazy=True,
            **kwargs,
        )
        self._meta: dict[str, _Meta] = {}
        self._names: dict[int, str] = {}
        self._trigger: datetime | None = None
        self._change_id = 0
        self._next_prune = time.monotonic() + PRUNE_EVERY
        if not lazy:
            self.setup_schedule()

    # -- loading ----------------------------------------------------------------------
    def setup_schedule(self) -> None:
        """Write ``beat_schedule`` and ``add_periodic_task`` entries into the table, then
        load every enabled row."""
        specs = Scheduler(self.app, lazy=True)  # parses and checks the settings' entries
        specs.setup_schedule()
        from celeriac.beat.schedules import resolve_timezone

        self.db.sync_entries(specs.schedule, resolve_timezone(self.app))
        self.reload()

    def reload(self) -> None:
        """Load every enabled row (and forget entries whose rows are gone)."""
        trigger, change_id = self.db.trigger(), self.db.last_change_id()
        rows = self.db.load_enabled()
        with self._mutex:
            for name in set(self._entries) - {row.name for row in rows}:
                self._drop(name)
            for row in rows:
                self._apply(row)
        self._trigger, self._change_id = trigger, change_id
        logger.info("beat: loaded %d periodic tasks from the database", len(rows))

    def poll(self) -> None:
        """Read the trigger; when it moved, apply the logged changes (or reload all)."""
        trigger = self.db.trigger()
        if trigger == self._trigger:
            return
        changes = self.db.new_changes(self._change_id)
        if not changes:
            logger.info("beat: the periodic tasks changed without a change log: reloading")
            self.reload()
            return
        rows, dropped = self.db.load_changed(changes)
        with self._mutex:
            for task_id in dropped:
                name = self._names.get(task_id)
                if name is not None:
                    self._drop(name)
            for row in rows:
                self._apply(row)
        self._trigger, self._change_id = trigger, changes[-1].id
        logger.info("beat: %d periodic task changes applied", len(changes))
        self._prune()

    def load_state(self, now: datetime | None = None) -> None:
        """On becoming the leader: reload if the table changed while another beat led."""
        if self.db.trigger() != self._trigger:
            self.reload()
        super().load_state(now)
        logger.info("beat: leading with %d periodic tasks", len(self._entries))

    def _prune(self) -> None:
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY
            self.db.prune_changes(self._change_id)

    def _apply(self, row: Row) -> None:
        old = self._names.get(row.id)
        if old is not None and old != row.name:
            self._drop(old)
        known = row.name in self._entries
        self._meta[row.name] = _Meta(
            row.id, row.one_off, row.start_time, row.expires, row.is_interval
        )
        self._names[row.id] = row.name
        if (
            row.one_off
            and row.last_run_at
            and (row.changed is None or row.changed <= row.last_run_at)
        ):
            self._drop(row.name)  # ran, and not re-enabled since
            return
        entry = self.add(row.name, row.task, row.schedule, row.args, row.kwargs, row.options)
        if not known and row.last_run_at is not None:
            entry.last_run_at, entry.total_run_count = row.last_run_at, row.total_run_count

    def _drop(self, name: str) -> None:
        meta = self._meta.pop(name, None)
        if meta is not None:
            self._names.pop(meta.id, None)
        self.remove(name)

    # -- when entries run ----------------------------------------------------------------
    def next_run(
        self, entry: ScheduleEntry, now: datetime, *, catch_up: bool = False
    ) -> datetime | None:
        """The schedule's next run, not before ``start_time`` and not after ``expires``."""
        due = super().next_run(entry, now, catch_up=catch_up)
        meta = self._meta.get(entry.name)
        if meta is None or due is None:
            return due
        start = meta.start_time
        if start is not None and (entry.last_run_at or now) < start:
            due = start if meta.is_interval else entry.schedule.next_run_after(start - _EPSILON)
        if meta.expires is not None and due > meta.expires:
            logger.info("beat: %s expired at %s: disabled", entry.name, meta.expires)
            self.db.disable(meta.id)
            return None
        return due

    def apply_entry(
        self,
        entry: ScheduleEntry,
        now: datetime | None = None,
        record: EntryState | None = None,
        producer: Any = None,
    ) -> None:
        """Send the task; a one-off task is disabled after its run."""
        super().apply_entry(entry, now, record, producer)
        meta = self._meta.get(entry.name)
        if meta is not None and meta.one_off:
            self.db.disable(meta.id)
            self._drop(entry.name)
