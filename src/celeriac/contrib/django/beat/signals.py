"""Change tracking: every save or delete of a periodic task or schedule moves the trigger
(``PeriodicTasks.last_update``) and logs what changed (``PeriodicTaskChange``).

Both are written after the row, in one transaction with it (the admin's, or one of our
own in autocommit), the trigger first: its row lock serializes writers until they
commit, so change ids follow commit order and beat can read ``id > last seen``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Model, signals
from django.utils import timezone

from celeriac.contrib.django.beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTaskChange,
    PeriodicTasks,
    SolarSchedule,
)

__all__ = ["connect", "record_change"]

_KINDS: dict[type[Model], str] = {
    PeriodicTask: "task",
    IntervalSchedule: "interval",
    CrontabSchedule: "crontab",
    SolarSchedule: "solar",
    ClockedSchedule: "clocked",
}


def record_change(kind: str, object_id: int, using: str | None = None) -> None:
    """Move the trigger and log one change (in the caller's transaction, if any)."""
    with transaction.atomic(using=using):
        PeriodicTasks.objects.using(using).update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )
        PeriodicTaskChange.objects.using(using).create(kind=kind, object_id=object_id)


def _changed(sender: type[Model], instance: Model, using: str | None = None, **_: Any) -> None:
    if getattr(instance, "no_changes", False) or instance.pk is None:
        return
    record_change(_KINDS[sender], int(instance.pk), using)


def connect() -> None:
    """Connect the receivers (``BeatConfig.ready``)."""
    for model in _KINDS:
        uid = f"celeriac-beat-{model.__name__}"
        signals.post_save.connect(_changed, sender=model, dispatch_uid=f"{uid}-save")
        signals.post_delete.connect(_changed, sender=model, dispatch_uid=f"{uid}-delete")
