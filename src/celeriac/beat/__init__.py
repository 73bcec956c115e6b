"""Beat: periodic tasks (schedules, the scheduler, its state stores and the leader lock).

Celery's ``celery.beat`` names: :class:`Scheduler`, :class:`PersistentScheduler`,
:class:`ScheduleEntry`, :class:`Service` (celeriac's :class:`Beat`) and
:class:`EmbeddedService` (:class:`EmbeddedBeat`).
"""

from celeriac.beat.scheduler import (
    LostLeadership,
    PersistentScheduler,
    ScheduleEntry,
    Scheduler,
    SchedulingError,
)
from celeriac.beat.service import Beat, EmbeddedBeat
from celeriac.beat.shared import SharedSchedule

#: Celery's names for the beat service and the one embedded in a worker.
Service = Beat
EmbeddedService = EmbeddedBeat

__all__ = [
    "Beat",
    "EmbeddedBeat",
    "EmbeddedService",
    "LostLeadership",
    "PersistentScheduler",
    "ScheduleEntry",
    "Scheduler",
    "SchedulingError",
    "Service",
    "SharedSchedule",
]
