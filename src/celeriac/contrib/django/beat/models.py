"""The periodic-task tables: django-celery-beat's tables and columns, plus a change log.

Interval, crontab (with its time zone), solar and clocked schedules, the periodic tasks
that use them, ``PeriodicTasks`` (one row whose ``last_update`` moves on every change,
django-celery-beat's trigger) and ``PeriodicTaskChange`` (what changed, read by the
database scheduler so that it loads only the rows that changed).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from celeriac.contrib.django.beat import validation

__all__ = [
    "ClockedSchedule",
    "CrontabSchedule",
    "IntervalSchedule",
    "PeriodicTask",
    "PeriodicTaskChange",
    "PeriodicTasks",
    "SolarSchedule",
    "crontab_schedule_celery_timezone",
]

DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS = (
    "days",
    "hours",
    "minutes",
    "seconds",
    "microseconds",
)
PERIOD_CHOICES = [
    (DAYS, "Days"),
    (HOURS, "Hours"),
    (MINUTES, "Minutes"),
    (SECONDS, "Seconds"),
    (MICROSECONDS, "Microseconds"),
]
SOLAR_SCHEDULES = [
    ("dawn_astronomical", "Astronomical dawn"),
    ("dawn_civil", "Civil dawn"),
    ("dawn_nautical", "Nautical dawn"),
    ("dusk_astronomical", "Astronomical dusk"),
    ("dusk_civil", "Civil dusk"),
    ("dusk_nautical", "Nautical dusk"),
    ("solar_noon", "Solar noon"),
    ("sunrise", "Sunrise"),
    ("sunset", "Sunset"),
]
#: The schedule foreign keys of a periodic task; exactly one is set.
SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")


def crontab_schedule_celery_timezone() -> str:
    """A new crontab's zone: ``CELERY_TIMEZONE``, else ``TIME_ZONE``, else UTC."""
    for name in ("CELERY_TIMEZONE", "TIME_ZONE"):
        value = getattr(settings, name, None)
        if value:
            try:
                validation.validate_timezone(value)
            except ValidationError:
                continue
            return str(value)
    return "UTC"


class SolarSchedule(models.Model):
    """Runs at a solar event (``sunset``…) at a place."""

    event = models.CharField(
        max_length=24,
        choices=SOLAR_SCHEDULES,
        verbose_name="Solar Event",
        help_text="The type of solar event when the job should run",
    )
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        verbose_name="Latitude",
        help_text="Run the task when the event happens at this latitude",
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        verbose_name="Longitude",
        help_text="Run the task when the event happens at this longitude",
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )

    class Meta:
        verbose_name = "solar event"
        verbose_name_plural = "solar events"
        ordering = ("event", "latitude", "longitude")
        unique_together = ("event", "latitude", "longitude")

    def __str__(self) -> str:
        return f"{self.get_event_display()} ({self.latitude}, {self.longitude})"


class IntervalSchedule(models.Model):
    """Runs every ``every`` ``period`` (``2`` ``days``)."""

    DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS = DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS
    PERIOD_CHOICES = PERIOD_CHOICES

    every = models.IntegerField(
        verbose_name="Number of Periods",
        help_text="Number of interval periods to wait before running the task again",
        validators=[MinValueValidator(1)],
    )
    period = models.CharField(
        max_length=24,
        choices=PERIOD_CHOICES,
        verbose_name="Interval Period",
        help_text="The type of period between task runs (Example: days)",
    )

    class Meta:
        verbose_name = "interval"
        verbose_name_plural = "intervals"
        ordering = ["period", "every"]

    @property
    def run_every(self) -> timedelta:
        """The interval."""
        return timedelta(**{str(self.period): int(self.every)})

    def __str__(self) -> str:
        unit = str(self.period)
        return f"every {unit[:-1]}" if self.every == 1 else f"every {self.every} {unit}"


class ClockedSchedule(models.Model):
    """Runs once, at ``clocked_time`` (its task must be one-off)."""

    clocked_time = models.DateTimeField(
        verbose_name="Clock Time", help_text="Run the task at clocked time"
    )

    class Meta:
        verbose_name = "clocked"
        verbose_name_plural = "clocked"
        ordering = ["clocked_time"]

    def __str__(self) -> str:
        return str(self.clocked_time)


class CrontabSchedule(models.Model):
    """Runs on matching wall-clock minutes in its own time zone."""

    minute = models.CharField(
        max_length=240,
        default="*",
        verbose_name="Minute(s)",
        help_text='Cron Minutes to Run. Use "*" for "all". (Example: "0,30")',
        validators=[validation.validate_minute],
    )
    hour = models.CharField(
        max_length=96,
        default="*",
        verbose_name="Hour(s)",
        help_text='Cron Hours to Run. Use "*" for "all". (Example: "8,20")',
        validators=[validation.validate_hour],
    )
    day_of_month = models.CharField(
        max_length=124,
        default="*",
        verbose_name="Day(s) Of The Month",
        help_text='Cron Days Of The Month to Run. Use "*" for "all". (Example: "1,15")',
        validators=[validation.validate_day_of_month],
    )
    month_of_year = models.CharField(
        max_length=64,
        default="*",
        verbose_name="Month(s) Of The Year",
        help_text='Cron Months (1-12) Of The Year to Run. Use "*" for "all". (Example: "1,12")',
        validators=[validation.validate_month_of_year],
    )
    day_of_week = models.CharField(
        max_length=64,
        default="*",
        verbose_name="Day(s) Of The Week",
        help_text='Cron Days Of The Week to Run. Use "*" for "all", Sunday is 0 or 7, '
        'Monday is 1. (Example: "0,5")',
        validators=[validation.validate_day_of_week],
    )
    timezone = models.CharField(
        max_length=63,
        default=crontab_schedule_celery_timezone,
        verbose_name="Cron Timezone",
        help_text="Timezone to Run the Cron Schedule on. Default is UTC.",
        validators=[validation.validate_timezone],
    )

    class Meta:
        verbose_name = "crontab"
        verbose_name_plural = "crontabs"
        ordering = ["month_of_year", "day_of_month", "day_of_week", "hour", "minute", "timezone"]

    @property
    def human_readable(self) -> str:
        """``'At 18:00, every day (Europe/Kyiv)'``."""
        return validation.describe_crontab(
            self.minute,
            self.hour,
            self.day_of_week,
            self.day_of_month,
            self.month_of_year,
            str(self.timezone),
        )

    def __str__(self) -> str:
        fields = (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        text = " ".join(str(value).replace(" ", "") or "*" for value in fields)
        return f"{text} (m/h/dM/MY/d) {self.timezone}"


class PeriodicTasks(models.Model):
    """One row (``ident=1``) whose ``last_update`` moves whenever a periodic task or a
    schedule changes: beat reads it on every tick (django-celery-beat's trigger)."""

    ident = models.SmallIntegerField(default=1, primary_key=True, unique=True)
    last_update = models.DateTimeField()

    class Meta:
        verbose_name = "periodic task track"
        verbose_name_plural = "periodic task tracks"

    @classmethod
    def update_changed(cls, **_: Any) -> None:
        """Move the trigger (call after ``PeriodicTask.objects.update(...)``, which sends no
        signals: beat then reloads the whole table once)."""
        cls.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})

    @classmethod
    def last_change(cls) -> datetime | None:
        """The trigger's value (None before the first change)."""
        row = cls.objects.filter(ident=1).values_list("last_update", flat=True).first()
        return row if isinstance(row, datetime) else None


class PeriodicTaskChange(models.Model):
    """One change of a periodic task or a schedule, written with the trigger.

    ``kind`` is ``task`` or a schedule field name (``crontab``…); ``object_id`` that row's
    id. Writers take the trigger row's lock first, so ids follow commit order and the
    scheduler reads ``id > last seen`` (celeriac's addition; django-celery-beat ignores it).
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16)
    object_id = models.IntegerField()
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "periodic task change"
        verbose_name_plural = "periodic task changes"


class PeriodicTask(models.Model):
    """A task that beat sends on one schedule."""

    name = models.CharField(
        max_length=200,
        unique=True,
        verbose_name="Name",
        help_text="Short Description For This Task",
    )
    task = models.CharField(
        max_length=200,
        verbose_name="Task Name",
        help_text='The Name of the Celery Task that Should be Run.  (Example: "proj.tasks.'
        'import_contacts")',
    )
    interval = models.ForeignKey(
        IntervalSchedule,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name="Interval Schedule",
        help_text="Interval Schedule to run the task on.  Set only one schedule type, "
        "leave the others null.",
    )
    crontab = models.ForeignKey(
        CrontabSchedule,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name="Crontab Schedule",
        help_text="Crontab Schedule to run the task on.  Set only one schedule type, "
        "leave the others null.",
    )
    solar = models.ForeignKey(
        SolarSchedule,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name="Solar Schedule",
        help_text="Solar Schedule to run the task on.  Set only one schedule type, "
        "leave the others null.",
    )
    clocked = models.ForeignKey(
        ClockedSchedule,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name="Clocked Schedule",
        help_text="Clocked Schedule to run the task on.  Set only one schedule type, "
        "leave the others null.",
    )
    args = models.TextField(
        blank=True,
        default="[]",
        verbose_name="Positional Arguments",
        help_text='JSON encoded positional arguments (Example: ["arg1", "arg2"])',
        validators=[validation.validate_json_list],
    )
    kwargs = models.TextField(
        blank=True,
        default="{}",
        verbose_name="Keyword Arguments",
        help_text='JSON encoded keyword arguments (Example: {"argument": "value"})',
        validators=[validation.validate_json_object],
    )
    queue = models.CharField(
        max_length=200,
        blank=True,
        null=True,
        default=None,
        verbose_name="Queue Override",
        help_text="Queue defined in CELERY_TASK_QUEUES. Leave None for default queuing.",
    )
    exchange = models.CharField(
        max_length=200,
        blank=True,
        null=True,
        default=None,
        verbose_name="Exchange",
        help_text="Override Exchange for low-level AMQP routing",
    )
    routing_key = models.CharField(
        max_length=200,
        blank=True,
        null=True,
        default=None,
        verbose_name="Routing Key",
        help_text="Override Routing Key for low-level AMQP routing",
    )
    headers = models.TextField(
        blank=True,
        default="{}",
        verbose_name="AMQP Message Headers",
        help_text="JSON encoded message headers for the AMQP message.",
        validators=[validation.validate_json_object],
    )
    priority = models.PositiveIntegerField(
        default=None,
        validators=[MaxValueValidator(255)],
        blank=True,
        null=True,
        verbose_name="Priority",
        help_text="Priority Number between 0 and 255. Supported by: RabbitMQ, Redis "
        "(priority reversed, 0 is highest).",
    )
    expires = models.DateTimeField(
        blank=True,
        null=True,
        verbose_name="Expires Datetime",
        help_text="Datetime after which the schedule will no longer trigger the task to run",
    )
    expire_seconds = models.PositiveIntegerField(
        blank=True,
        null=True,
        verbose_name="Expires timedelta with seconds",
        help_text="Timedelta with seconds which the schedule will no longer trigger the "
        "task to run",
    )
    one_off = models.BooleanField(
        default=False,
        verbose_name="One-off Task",
        help_text="If True, the schedule will only run the task a single time",
    )
    start_time = models.DateTimeField(
        blank=True,
        null=True,
        verbose_name="Start Datetime",
        help_text="Datetime when the schedule should begin triggering the task to run",
    )
    enabled = models.BooleanField(
        default=True, verbose_name="Enabled", help_text="Set to False to disable the schedule"
    )
    last_run_at = models.DateTimeField(
        editable=False,
        blank=True,
        null=True,
        verbose_name="Last Run Datetime",
        help_text="Datetime that the schedule last triggered the task to run. Reset to "
        "None if enabled is set to False.",
    )
    total_run_count = models.PositiveIntegerField(
        default=0,
        editable=False,
        verbose_name="Total Run Count",
        help_text="Running count of how many times the schedule has triggered the task",
    )
    date_changed = models.DateTimeField(
        auto_now=True,
        verbose_name="Last Modified",
        help_text="Datetime that this PeriodicTask was last modified",
    )
    description = models.TextField(
        blank=True,
        verbose_name="Description",
        help_text="Detailed description about the details of this Periodic Task",
    )

    #: set True on an instance to save it without moving the trigger (django-celery-beat's)
    no_changes: ClassVar[bool] = False

    class Meta:
        verbose_name = "periodic task"
        verbose_name_plural = "periodic tasks"

    def __str__(self) -> str:
        schedule = self.schedule_row
        return f"{self.name}: {schedule if schedule is not None else '{no schedule}'}"

    @property
    def schedule_row(self) -> models.Model | None:
        """The one schedule row this task uses (None when none is set)."""
        for name in SCHEDULE_FIELDS:
            row = getattr(self, name)
            if row is not None:
                return row
        return None

    @property
    def schedule_kind(self) -> str | None:
        """``interval``, ``crontab``, ``solar`` or ``clocked``."""
        for name in SCHEDULE_FIELDS:
            if getattr(self, f"{name}_id") is not None:
                return name
        return None

    def clean(self) -> None:
        """Exactly one schedule; clocked tasks are one-off; one kind of expiry."""
        chosen = [name for name in SCHEDULE_FIELDS if getattr(self, f"{name}_id") is not None]
        if not chosen:
            raise ValidationError("Set one schedule: interval, crontab, solar or clocked.")
        if len(chosen) > 1:
            message = f"Set only one schedule (this task has {', '.join(chosen)})."
            raise ValidationError({name: [message] for name in chosen})
        if self.clocked_id is not None and not self.one_off:
            raise ValidationError({"one_off": ["A clocked schedule runs once: tick One-off."]})
        if self.expires is not None and self.expire_seconds is not None:
            raise ValidationError(
                {"expire_seconds": ["Set either Expires Datetime or the seconds, not both."]}
            )

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, normalizing empty options to NULL (and forgetting the last run when
        disabled, as django-celery-beat does)."""
        self.exchange = self.exchange or None
        self.routing_key = self.routing_key or None
        self.queue = self.queue or None
        self.headers = self.headers or "{}"
        if not self.enabled:
            self.last_run_at = None
        self.clean()
        super().save(*args, **kwargs)

    # -- what beat sends ------------------------------------------------------------
    def loaded_args(self) -> list[object]:
        """The positional arguments."""
        value = json.loads(self.args or "[]")
        if not isinstance(value, list):
            raise ValueError("args is not a JSON list")
        return value

    def loaded_kwargs(self) -> dict[str, object]:
        """The keyword arguments."""
        value = json.loads(self.kwargs or "{}")
        if not isinstance(value, dict):
            raise ValueError("kwargs is not a JSON object")
        return value

    def send_options(self) -> dict[str, object]:
        """The ``apply_async`` options (queue, routing, priority, expiry, headers)."""
        options: dict[str, object] = {}
        for name in ("queue", "exchange", "routing_key", "priority"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        expires = self.expires or self.expire_seconds
        if expires:
            options["expires"] = expires
        headers = json.loads(self.headers or "{}")
        headers = dict(headers) if isinstance(headers, dict) else {}
        headers["periodic_task_name"] = self.name
        options["headers"] = headers
        return options
