"""The beat loop: hold (or wait for) the leader lock, tick the scheduler, sleep until due.

``Beat.run()`` is what ``celeriac beat`` runs; :class:`EmbeddedBeat` runs the same loop
on a thread inside a worker (``celeriac worker -B``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celeriac.beat.lock import LeaderLock
from celeriac.beat.scheduler import LostLeadership, PersistentScheduler, Scheduler
from celeriac.beat.shared import SharedSchedule
from celeriac.beat.stores import BrokerStore, FileStore, Store
from celeriac.exceptions import OperationalError
from celeriac.utils.imports import import_from_string
from celeriac.utils.log import own_logger

__all__ = ["Beat", "EmbeddedBeat", "scheduler_class"]

logger = own_logger(__name__)

#: Celery's scheduler names that mean celeriac's default scheduler.
_DEFAULT_NAMES = {
    "celery.beat:PersistentScheduler",
    "celery.beat.PersistentScheduler",
    "celery.beat:Scheduler",
    "celery.beat.Scheduler",
    "celeriac.beat:PersistentScheduler",
    "celeriac.beat.PersistentScheduler",
}
#: Other names of schedulers: ``-S django`` and django-celery-beat's class (the import
#: path users have in ``CELERY_BEAT_SCHEDULER``) mean celeriac's database scheduler.
_ALIASES = {
    "django": "celeriac.contrib.django.beat.scheduler:DatabaseScheduler",
    "django_celery_beat.schedulers:DatabaseScheduler": (
        "celeriac.contrib.django.beat.scheduler:DatabaseScheduler"
    ),
    "django_celery_beat.schedulers.DatabaseScheduler": (
        "celeriac.contrib.django.beat.scheduler:DatabaseScheduler"
    ),
}
#: Pause after a broker error before the next try, seconds.
ERROR_PAUSE = 1.0


def scheduler_class(spec: str | type[Scheduler] | None) -> type[Scheduler]:
    """The scheduler class named by ``-S``/``beat_scheduler`` (``"pkg.mod:Class"`` or dotted)."""
    if spec is None or (isinstance(spec, str) and spec in _DEFAULT_NAMES):
        return PersistentScheduler
    cls: object
    if isinstance(spec, type):
        cls = spec
    else:
        spec = _ALIASES.get(spec, spec)
        path = spec if ":" in spec else ":".join(spec.rsplit(".", 1))
        cls = import_from_string(path)
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise TypeError(f"{spec!r} is not a celeriac.beat.scheduler.Scheduler subclass")
    return cls


class Beat:
    """One beat: the scheduler, its stores and the leader lock.

    Args:
        app: the app.
        scheduler: scheduler class or import path (default ``beat_scheduler``).
        schedule_filename: the schedule file (default ``beat_schedule_filename``); ``None``
            or ``""`` with ``persist=False`` keeps no file.
        max_interval: longest sleep between ticks (``beat_max_loop_interval``).
        lock_timeout: ``beat_lock_timeout``.
        use_lock: compete for the leader lock (when the broker has one).
    """

    def __init__(
        self,
        app: Any,
        *,
        scheduler: str | type[Scheduler] | None = None,
        schedule_filename: str | None = None,
        max_interval: float | None = None,
        lock_timeout: float | None = None,
        use_lock: bool = True,
        persist: bool = True,
    ) -> None:
        self.app = app
        conf = app.conf
        self._stop = threading.Event()
        transport = app.transport
        self.lock: LeaderLock | None = None
        cls = scheduler_class(scheduler or conf.beat_scheduler)
        stores: list[Store] = []
        if persist and cls.uses_schedule_file:
            stores.append(FileStore(str(schedule_filename or conf.beat_schedule_filename)))
        if use_lock:
            lock = LeaderLock(transport, float(lock_timeout or conf.beat_lock_timeout))
            if lock.supported:
                self.lock = lock
                stores.append(BrokerStore(lock))
            else:
                logger.warning(
                    "beat: the broker %s has no leader lock: run only one beat", type(transport)
                )
        keeps_file = persist and cls.uses_schedule_file
        filename = str(schedule_filename or conf.beat_schedule_filename) if keeps_file else None
        self.scheduler: Scheduler = cls(
            app, max_interval=max_interval, lazy=True, stores=stores, schedule_filename=filename
        )
        if self.lock is not None:
            self.scheduler.shared = SharedSchedule(app)

    @property
    def is_leader(self) -> bool:
        """True while this beat may fire entries."""
        return self.lock is None or self.lock.held

    def stop(self) -> None:
        """Ask :meth:`run` to return (from any thread or a signal handler)."""
        self._stop.set()
        self.scheduler.changed.set()

    def run(self) -> None:
        """Run until :meth:`stop`; release the lock and sync on the way out."""
        scheduler = self.scheduler
        scheduler.setup_schedule()
        logger.info(
            "beat: starting with %d entries (max interval %.1fs)",
            len(scheduler.schedule),
            scheduler.max_interval,
        )
        try:
            while not self._stop.is_set():
                delay = self._step()
                scheduler.changed.wait(delay)
                scheduler.changed.clear()
        finally:
            try:
                scheduler.close()
            finally:
                if self.lock is not None:
                    self.lock.release()
            logger.info("beat: stopped")

    def _step(self) -> float:
        """One turn of the loop; return how long to sleep."""
        lock, scheduler = self.lock, self.scheduler
        try:
            if lock is not None:
                was_leader = lock.held
                if time.monotonic() >= lock.next_attempt() or not lock.valid():
                    lock.acquire()
                if not lock.held:
                    return lock.retry_interval
                if not was_leader:
                    scheduler.poll()  # shared entries first, so their last runs load too
                    scheduler.load_state()
            scheduler.poll()
            delay = scheduler.tick()
            if scheduler.should_sync():
                scheduler._do_sync()
        except LostLeadership:
            return 0.0
        except OperationalError as exc:
            logger.error("beat: broker or schedule file error: %s", exc)
            if lock is not None and not lock.valid():
                lock.lost()  # could not renew in time: another beat may lead now
            return ERROR_PAUSE
        if lock is not None:
            delay = min(delay, max(0.0, lock.next_attempt() - time.monotonic()))
        return delay


class EmbeddedBeat:
    """Beat on a daemon thread of another process (``celeriac worker -B``)."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.beat = Beat(app, **options)
        self.thread = threading.Thread(target=self._main, name="celeriac-beat", daemon=True)

    def _main(self) -> None:
        try:
            self.beat.run()
        except Exception:
            logger.exception("beat: embedded beat crashed")

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for the thread."""
        self.beat.stop()
        if self.thread.is_alive():
            self.thread.join(timeout)
