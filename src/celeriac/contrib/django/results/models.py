"""django-celery-results' tables, column for column (``TaskResult``, ``GroupResult``,
``ChordCounter``), and celeriac's chord parts beside them.

Encoding, as django-celery-results writes it: ``result`` is the task's return value (or
its exception as ``{"exc_type", "exc_message", "exc_module"}``) in the result serializer,
base64 when the serializer's encoding is binary, with ``content_type`` and
``content_encoding`` saying which; ``meta`` is ``{"children": [...]}`` plus request meta
in the same serializer; ``task_args``/``task_kwargs`` are the serialized *repr* of the
arguments (``result_extended``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from celeriac import states

__all__ = ["CeleriacChordPart", "ChordCounter", "GroupResult", "TaskResult"]

#: Longest task and group id (django-celery-results' setting of the same name).
ID_MAX_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)


class TaskResult(models.Model):
    """One task's state and result."""

    task_id = models.CharField(
        max_length=ID_MAX_LENGTH,
        unique=True,
        verbose_name="Task ID",
        help_text="Celery ID for the Task that was run",
    )
    periodic_task_name = models.CharField(
        null=True,
        max_length=255,
        verbose_name="Periodic Task Name",
        help_text="Name of the Periodic Task which was run",
    )
    task_name = models.CharField(
        null=True,
        max_length=ID_MAX_LENGTH,
        verbose_name="Task Name",
        help_text="Name of the Task which was run",
    )
    task_args = models.TextField(
        null=True,
        verbose_name="Task Positional Arguments",
        help_text="JSON representation of the positional arguments used with the task",
    )
    task_kwargs = models.TextField(
        null=True,
        verbose_name="Task Named Arguments",
        help_text="JSON representation of the named arguments used with the task",
    )
    status = models.CharField(
        max_length=50,
        default=states.PENDING,
        verbose_name="Task State",
        help_text="Current state of the task being run",
    )
    worker = models.CharField(
        max_length=100,
        default=None,
        null=True,
        verbose_name="Worker",
        help_text="Worker that executes the task",
    )
    content_type = models.CharField(
        max_length=128,
        verbose_name="Result Content Type",
        help_text="Content type of the result data",
    )
    content_encoding = models.CharField(
        max_length=64,
        verbose_name="Result Encoding",
        help_text="The encoding used to save the task result data",
    )
    result = models.TextField(
        null=True,
        default=None,
        editable=False,
        verbose_name="Result Data",
        help_text="The data returned by the task.  "
        "Use content_encoding and content_type fields to read.",
    )
    date_created = models.DateTimeField(
        auto_now_add=True,
        verbose_name="Created DateTime",
        help_text="Datetime field when the task result was created in UTC",
    )
    date_started = models.DateTimeField(
        null=True,
        default=None,
        verbose_name="Started DateTime",
        help_text="Datetime field when the task was started in UTC",
    )
    date_done = models.DateTimeField(
        auto_now=True,
        verbose_name="Completed DateTime",
        help_text="Datetime field when the task was completed in UTC",
    )
    traceback = models.TextField(
        blank=True,
        null=True,
        verbose_name="Traceback",
        help_text="Text of the traceback if the task generated one",
    )
    meta = models.TextField(
        null=True,
        default=None,
        editable=False,
        verbose_name="Task Meta Information",
        help_text="JSON meta information about the task, such as information on child tasks",
    )

    class Meta:
        ordering = ["-date_done"]
        verbose_name = "task result"
        verbose_name_plural = "task results"
        # django-celery-results' index names: the admin's filters use them.
        indexes = [
            models.Index(fields=["task_name"], name="django_cele_task_na_08aec9_idx"),
            models.Index(fields=["status"], name="django_cele_status_9b6201_idx"),
            models.Index(fields=["worker"], name="django_cele_worker_d54dd8_idx"),
            models.Index(fields=["date_created"], name="django_cele_date_cr_f04a50_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_f59aad_idx"),
            models.Index(fields=["periodic_task_name"], name="django_cele_periodi_1993cf_idx"),
        ]

    def __str__(self) -> str:
        return f"<Task: {self.task_id} ({self.status})>"


class ChordCounter(models.Model):
    """A chord's header parts still to finish (django-celery-results' counter)."""

    group_id = models.CharField(
        max_length=ID_MAX_LENGTH,
        unique=True,
        verbose_name="Group ID",
        help_text="Celery ID for the Chord header group",
    )
    sub_tasks = models.TextField(
        help_text="JSON serialized list of task result tuples. use .group_result() to decode"
    )
    count = models.PositiveIntegerField(
        help_text="Starts at len(chord header) and decrements after each task is finished"
    )

    def __str__(self) -> str:
        return f"<Chord: {self.group_id} ({self.count} to go)>"


class GroupResult(models.Model):
    """A saved group (``GroupResult.save()``)."""

    group_id = models.CharField(
        max_length=ID_MAX_LENGTH,
        unique=True,
        verbose_name="Group ID",
        help_text="Celery ID for the Group that was run",
    )
    date_created = models.DateTimeField(
        auto_now_add=True,
        verbose_name="Created DateTime",
        help_text="Datetime field when the group result was created in UTC",
    )
    date_done = models.DateTimeField(
        auto_now=True,
        verbose_name="Completed DateTime",
        help_text="Datetime field when the group was completed in UTC",
    )
    content_type = models.CharField(
        max_length=128,
        verbose_name="Result Content Type",
        help_text="Content type of the result data",
    )
    content_encoding = models.CharField(
        max_length=64,
        verbose_name="Result Encoding",
        help_text="The encoding used to save the task result data",
    )
    result = models.TextField(
        null=True,
        default=None,
        editable=False,
        verbose_name="Result Data",
        help_text="The data returned by the task.  "
        "Use content_encoding and content_type fields to read.",
    )

    class Meta:
        ordering = ["-date_done"]
        verbose_name = "group result"
        verbose_name_plural = "group results"
        indexes = [
            models.Index(fields=["date_created"], name="django_cele_date_cr_bd6c1d_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_caae0e_idx"),
        ]

    def __str__(self) -> str:
        return f"<Group: {self.group_id}>"


class CeleriacChordPart(models.Model):
    """celeriac only: one recorded header part of a chord, so a redelivered task is not
    counted twice; the completed chord's body gets the parts in header order."""

    group_id = models.CharField(max_length=ID_MAX_LENGTH)
    task_id = models.CharField(max_length=ID_MAX_LENGTH)
    group_index = models.BigIntegerField()
    part = models.TextField(help_text="[1, task_id, state, result] in the result serializer")

    class Meta:
        verbose_name = "chord part"
        verbose_name_plural = "chord parts"
        constraints = [
            models.UniqueConstraint(
                fields=["group_id", "task_id", "group_index"], name="celeriac_chord_part_unique"
            )
        ]

    def __str__(self) -> str:
        return f"<Chord part: {self.group_id} {self.task_id}>"
