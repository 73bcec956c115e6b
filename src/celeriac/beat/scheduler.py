"""The scheduler: entries in a heap keyed by next run time, fired through ``app.send_task``.

A tick looks only at the top of the heap, so its cost does not grow with the number of
entries when nothing is due. ``add``/``remove``/``update`` may be called from any thread
while beat runs; they take effect at the next tick (the beat loop is woken at once).
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from celeriac.beat.celery_api import CelerySchedulerAPI, SchedulingError
from celeriac.beat.entry import ScheduleEntry
from celeriac.beat.schedules import BaseSchedule, crontab, maybe_schedule
from celeriac.beat.shared import SharedSchedule, load_schedule
from celeriac.beat.stores import EntryState, Store, merge_states
from celeriac.exceptions import OperationalError
from celeriac.utils.log import own_logger

__all__ = [
    "LostLeadership",
    "SchedulingError",
    "PersistentScheduler",
    "ScheduleEntry",
    "Scheduler",
    "MISSED_RUN_POLICIES",
]

logger = own_logger(__name__)

#: ``beat_missed_run_policy`` values: run a missed run once on catch-up, or skip it.
MISSED_RUN_POLICIES = ("run_once", "skip")
#: Default ``max_interval`` in seconds (Celery's PersistentScheduler sleeps up to 300 s).
DEFAULT_MAX_INTERVAL = 300.0
#: Due entries recorded in one write per store (the rest wait for the next tick, at once).
FIRE_BATCH = 1000
#: (next run as epoch seconds, tie-breaker, entry name, entry version when pushed)
_HeapItem = tuple[float, int, str, int]


class LostLeadership(SchedulingError):
    """This beat may no longer fire entries: another beat holds the leader lock."""


def _task_id(entry: ScheduleEntry) -> str:
    """The id of an entry's next message: its ``task_id`` option, else a new one."""
    return str(entry.options.get("task_id") or uuid.uuid4())


def _entry_from_dict(
    app: Any, name: str, spec: Mapping[str, Any], entry_cls: type[ScheduleEntry] = ScheduleEntry
) -> ScheduleEntry:
    if not isinstance(spec, Mapping) or "task" not in spec or "schedule" not in spec:
        raise ValueError(f"beat_schedule entry {name!r} needs 'task' and 'schedule' keys")
    unknown = set(spec) - {"task", "schedule", "args", "kwargs", "options", "relative"}
    if unknown:
        raise ValueError(f"beat_schedule entry {name!r} has unknown keys: {sorted(unknown)}")
    sched = maybe_schedule(spec["schedule"], bool(spec.get("relative", False)), app=app)
    return entry_cls(
        name=name,
        task=str(spec["task"]),
        schedule=sched,
        app=app,
        args=tuple(spec.get("args") or ()),
        kwargs=dict(spec.get("kwargs") or {}),
        options=dict(spec.get("options") or {}),
    )


class Scheduler(CelerySchedulerAPI):
    """The scheduler interface (Celery's names) and the in-memory implementation.

    A subclass (the Django database scheduler) overrides :meth:`setup_schedule`,
    :meth:`sync` and :meth:`close`, and may call :meth:`add`/:meth:`update`/
    :meth:`remove` when its source of entries changes (from :meth:`poll`, called at most
    every ``max_interval``).

    A scheduler written for Celery subclasses it too: the constructor takes Celery's
    arguments, and Celery's methods are there (:class:`CelerySchedulerAPI`).

    Args:
        app: the Celery app (``beat_schedule`` and ``add_periodic_task`` entries, settings).
        schedule: initial entries by name (entries or ``beat_schedule``-style dicts).
        max_interval: longest sleep between ticks, seconds.
        Producer: accepted for Celery's signature (celeriac publishes through the app).
        lazy: do not call :meth:`setup_schedule` now (Celery's default is to call it).
        sync_every_tasks: call :meth:`sync` after this many sent tasks
            (``beat_sync_every``).
        stores: where entry states are loaded from and saved to.
        missed_run_policy: what to do with a run missed while no beat was running:
            ``run_once`` (fire once on catch-up) or ``skip``.
        schedule_filename: the schedule file, when beat keeps one (``-s``).
    """

    #: whether beat keeps a schedule file (``-s``) for this scheduler's last runs
    uses_schedule_file: ClassVar[bool] = True

    def __init__(
        self,
        app: Any,
        schedule: Mapping[str, Any] | None = None,
        max_interval: float | None = None,
        Producer: Any = None,
        lazy: bool = False,
        sync_every_tasks: int | None = None,
        *,
        stores: Iterable[Store] = (),
        missed_run_policy: str | None = None,
        schedule_filename: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.schedule_filename = schedule_filename
        self.stores = list(stores)
        self.max_interval = float(
            max_interval or app.conf.beat_max_loop_interval or DEFAULT_MAX_INTERVAL
        )
        policy = missed_run_policy or app.conf.beat_missed_run_policy
        if policy not in MISSED_RUN_POLICIES:
            raise ValueError(f"beat_missed_run_policy must be one of {MISSED_RUN_POLICIES}")
        self.missed_run_policy = policy
        self.changed = threading.Event()
        self._entries: dict[str, ScheduleEntry] = {}
        self._heap: list[_HeapItem] = []
        self._seq = itertools.count()
        self._mutex = threading.RLock()
        self._unconfirmed: dict[str, EntryState] = {}
        #: entries added or changed since the last tick (scheduled by the next one)
        self._added: set[str] = set()
        self._loaded = False
        #: entries other processes add through the broker (see ``beat/shared.py``)
        self.shared: SharedSchedule | None = None
        self._shared_seen: dict[str, str] = {}
        self._next_poll = 0.0
        self._init_celery_api(sync_every_tasks, Producer)
        if schedule:
            self.update_from_dict(schedule)
        if not lazy:
            self.setup_schedule()

    # -- the interface ---------------------------------------------------------------
    def setup_schedule(self) -> None:
        """Read ``beat_schedule`` and ``add_periodic_task`` entries."""
        for name, spec in dict(self.app.conf.beat_schedule or {}).items():
            self._put(_entry_from_dict(self.app, name, spec, self.Entry))
        for name, spec in getattr(self.app, "_periodic_tasks", {}).items():
            self._put(_entry_from_dict(self.app, name, spec, self.Entry))
        cleanup = self.default_entries()
        for name, spec in cleanup.items():
            if name not in self._entries:
                self._put(_entry_from_dict(self.app, name, spec, self.Entry))

    def default_entries(self) -> dict[str, dict[str, Any]]:
        """Celery's default entry: ``celery.backend_cleanup`` daily at 04:00 when results
        expire and the backend does not expire them by itself (a database)."""
        if not self.app.conf.result_expires:
            return {}
        if getattr(type(self.app.backend), "supports_autoexpire", True):
            return {}
        return {
            "celery.backend_cleanup": {
                "task": "celery.backend_cleanup",
                "schedule": crontab(minute="0", hour="4"),
                "options": {"expires": 12 * 3600},
            }
        }

    def poll(self) -> None:
        """Pick up changes made elsewhere, at most every ``max_interval`` (a database
        scheduler reads its table here). The default reads :attr:`shared` entries."""
        shared = self.shared
        if shared is None or time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self.max_interval
        stored = shared.raw()
        with self._mutex:
            for name, text in stored.items():
                if self._shared_seen.get(name) == text:
                    continue
                self._shared_seen[name] = text
                spec = json.loads(text)
                if spec is None:
                    if self.remove(name):
                        logger.info("beat: removed %s (shared entries)", name)
                    continue
                try:
                    spec["schedule"] = load_schedule(spec["schedule"])
                    self.add(name, **spec)
                except (ValueError, TypeError, KeyError) as exc:
                    logger.error("beat: shared entry %s is invalid: %s", name, exc)
                else:
                    logger.info("beat: added or changed %s (shared entries)", name)

    def load_state(self, now: datetime | None = None) -> None:
        """Read the stores and (re)compute every next run; call on becoming the leader.

        A run missed while no beat was running fires once on the next tick
        (``run_once``) or is skipped (``skip``). A ``pending`` run found here was being
        sent when the previous beat stopped: it is logged, not sent again.
        """
        now = now or self.app.now()
        with self._mutex:
            states = merge_states(store.load() for store in self.stores)
            fresh: dict[str, EntryState] = {}
            for name, entry in self._entries.items():
                state = states.get(name)
                if state is not None and state.pending:
                    logger.warning(
                        "beat: the run of %s at %s (task id %s) may not have been sent: "
                        "beat stopped while sending it",
                        name,
                        state.last_run_at,
                        state.pending,
                    )
                    state.pending = None
                    fresh[name] = state
                if state is None or state.last_run_at is None:
                    # an entry added with its own last run (``add(last_run_at=...)``) keeps it
                    state = fresh[name] = EntryState(
                        entry.last_run_at or now, entry.total_run_count
                    )
                entry.last_run_at = state.last_run_at
                entry.total_run_count = state.total_run_count
            self._save(fresh)
            self._rebuild(now, catch_up=True)
            self._loaded = True

    def tick(self, now: datetime | None = None, **_: Any) -> float:
        """Fire every due entry; return 0 when it sent any (as Celery's ``tick``: call again
        at once), else the seconds until the next one is due (capped at ``max_interval``).

        Celery's keyword arguments (``event_t``, ``min``, ``heappop``, ``heappush``) are
        accepted and not needed.

        Raises:
            LostLeadership: a store refused a write (another beat holds the lock).
        """
        self._adopt_overridden_schedule()
        now = now or self.app.now()
        if not self._loaded:
            self.load_state(now)
        now_ts = now.timestamp()
        with self._mutex:
            self._schedule_added(now)
            due = self._pop_due(now_ts)
            if due:
                self._fire(due, now)
            self._confirm()
            self._drop_stale_top()
            heap = self._heap
            delay = heap[0][0] - now_ts if heap else self.max_interval
        if due:
            return 0.0
        return max(0.0, min(delay, self.max_interval))

    def _pop_due(self, now_ts: float) -> list[tuple[_HeapItem, ScheduleEntry]]:
        heap = self._heap
        due: list[tuple[_HeapItem, ScheduleEntry]] = []
        while heap and heap[0][0] <= now_ts and len(due) < FIRE_BATCH:
            item = heapq.heappop(heap)
            entry = self._entries.get(item[2])
            if entry is not None and entry.version == item[3]:
                due.append((item, entry))
        return due

    def _fire(self, due: list[tuple[_HeapItem, ScheduleEntry]], now: datetime) -> None:
        """Record every due run in one write per store, then send them one by one."""
        records = {
            entry.name: EntryState(now, entry.total_run_count + 1, pending=_task_id(entry))
            for _, entry in due
        }
        if not self._save(records):
            raise LostLeadership(", ".join(records))
        for index, (_, entry) in enumerate(due):
            try:
                self.apply_entry(entry, now, records[entry.name])
            except OperationalError:
                # The broker refused it: take the unsent records back; due at the next tick.
                rest = due[index:]
                self._save({e.name: EntryState(e.last_run_at, e.total_run_count) for _, e in rest})
                for unsent, _ in rest:
                    heapq.heappush(self._heap, unsent)
                raise
            self._push(entry, now)

    def apply_entry(
        self,
        entry: ScheduleEntry,
        now: datetime | None = None,
        record: EntryState | None = None,
        producer: Any = None,
    ) -> None:
        """Send a due entry's task, its run recorded first (``record``, else recorded here),
        so a crash can never send it twice. A subclass's own :meth:`apply_async` sends it
        when there is one (``advance=False``: the run is recorded here).

        Raises:
            OperationalError: the broker refused the message (the caller takes the record
                back so the run is tried again).
        """
        now = now or self.app.now()
        if record is None:
            record = EntryState(now, entry.total_run_count + 1, pending=_task_id(entry))
            if not self._save({entry.name: record}):
                raise LostLeadership(entry.name)
        self._tasks_since_sync += 1
        try:
            if type(self).apply_async is not CelerySchedulerAPI.apply_async:
                self.apply_async(entry, producer=producer, advance=False, task_id=record.pending)
            else:
                options = {**dict(entry.options), "task_id": record.pending}
                self.app.send_task(entry.task, list(entry.args), dict(entry.kwargs), **options)
        except OperationalError as exc:
            logger.error("beat: sending %s (%s) failed: %s", entry.name, entry.task, exc)
            raise
        except Exception as exc:  # a bad entry (unencodable args...): retrying cannot help
            logger.error("beat: sending %s (%s) failed: %s", entry.name, entry.task, exc)
        else:
            logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        entry.last_run_at, entry.total_run_count = now, record.total_run_count
        self._unconfirmed[entry.name] = EntryState(now, record.total_run_count)

    def sync(self) -> None:
        """Write what is not written yet."""
        with self._mutex:
            self._confirm()

    def close(self) -> None:
        """Sync and close the stores."""
        self.sync()
        for store in self.stores:
            store.close()

    # -- changing entries while beat runs ----------------------------------------------
    def add(
        self,
        name: str,
        task: str,
        schedule: float | timedelta | BaseSchedule,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        relative: bool = False,
        last_run_at: datetime | None = None,
        total_run_count: int | None = None,
    ) -> ScheduleEntry:
        """Add (or replace) an entry; it is picked up at the next tick. A replaced entry
        keeps its run history unless ``last_run_at``/``total_run_count`` are given (as in
        Celery's ``add(**entry fields)``); a new entry without ``last_run_at`` counts its
        first period from the tick that schedules it."""
        spec = {"task": task, "schedule": schedule, "args": args, "kwargs": kwargs or {}}
        spec.update(options=options or {}, relative=relative)
        entry = _entry_from_dict(self.app, name, spec, self.Entry)
        with self._mutex:
            old = self._entries.get(name)
            if old is not None:
                entry.last_run_at, entry.total_run_count = old.last_run_at, old.total_run_count
                entry.version = old.version + 1
            if last_run_at is not None:
                entry.last_run_at = last_run_at
            if total_run_count is not None:
                entry.total_run_count = total_run_count
            self._put(entry)
            self._added.add(name)
        self.changed.set()
        return entry

    def update(self, name: str, **changes: Any) -> ScheduleEntry:
        """Change fields of an entry (``task``, ``schedule``, ``args``, ``kwargs``,
        ``options``, ``relative``)."""
        with self._mutex:
            old = self._entries.get(name)
            if old is None:
                raise KeyError(f"no beat entry named {name!r}")
            spec: dict[str, Any] = {
                "task": old.task,
                "schedule": old.schedule,
                "args": old.args,
                "kwargs": old.kwargs,
                "options": old.options,
            }
            spec.update(changes)
            return self.add(name, **spec)

    def remove(self, name: str) -> bool:
        """Remove an entry; False if there was none."""
        with self._mutex:
            entry = self._entries.pop(name, None)
            if entry is not None:
                entry.version += 1
        self.changed.set()
        return entry is not None

    # -- internals ----------------------------------------------------------------------
    def _put(self, entry: ScheduleEntry) -> None:
        self._entries[entry.name] = entry

    def _save(self, states: Mapping[str, EntryState]) -> bool:
        if not states:
            return True
        ok = True
        for store in self.stores:
            ok = store.save(states) and ok
        return ok

    def _confirm(self) -> None:
        unconfirmed, self._unconfirmed = self._unconfirmed, {}
        if unconfirmed:
            self._save(unconfirmed)

    def next_run(
        self, entry: ScheduleEntry, now: datetime, *, catch_up: bool = False
    ) -> datetime | None:
        """When ``entry`` is due next (applying the missed-run policy when ``catch_up``);
        ``None`` when it will not run again (a subclass's rule: a one-off that ran)."""
        last = entry.last_run_at or now
        due = entry.schedule.next_run_after(last)
        if catch_up and due <= now and self._skips(entry, last, now):
            logger.info("beat: skipping the run of %s missed at %s", entry.name, due)
            due = entry.schedule.next_run_after(now)
        return due

    def _skips(self, entry: ScheduleEntry, last: datetime, now: datetime) -> bool:
        if self.missed_run_policy == "skip":
            return True
        return not entry.schedule.is_due(last, now).is_due  # beat_cron_starting_deadline

    def _push(self, entry: ScheduleEntry, now: datetime, *, catch_up: bool = False) -> None:
        try:
            entry.next_run_at = due = self.next_run(entry, now, catch_up=catch_up)
        except ValueError as exc:  # e.g. a solar event that never happens there
            logger.error("beat: %s will not run: %s", entry.name, exc)
            return
        if due is not None:
            heapq.heappush(
                self._heap, (due.timestamp(), next(self._seq), entry.name, entry.version)
            )

    def _schedule_added(self, now: datetime) -> None:
        added, self._added = self._added, set()
        for name in added:
            entry = self._entries.get(name)
            if entry is not None:
                if entry.last_run_at is None:
                    entry.last_run_at = now
                self._push(entry, now)

    def _rebuild(self, now: datetime, *, catch_up: bool) -> None:
        self._added.clear()
        self._heap = []
        for entry in self._entries.values():
            self._push(entry, now, catch_up=catch_up)

    def _drop_stale_top(self) -> None:
        heap = self._heap
        while heap:
            entry = self._entries.get(heap[0][2])
            if entry is not None and entry.version == heap[0][3]:
                break
            heapq.heappop(heap)
        if len(heap) > 2 * len(self._entries) + 1024:
            self._heap = [
                item
                for item in heap
                if (e := self._entries.get(item[2])) is not None and e.version == item[3]
            ]
            heapq.heapify(self._heap)


class PersistentScheduler(Scheduler):
    """The default scheduler (Celery's name): states in the schedule file and the broker."""

    @property
    def info(self) -> str:
        """Beat's banner line: the schedule file."""
        return f"    . db -> {self.schedule_filename}" if self.schedule_filename else ""
