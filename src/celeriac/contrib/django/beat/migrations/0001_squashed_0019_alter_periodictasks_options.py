"""django-celery-beat's tables as its migrations 0001-0019 leave them (one squashed step:
a database migrated by django-celery-beat counts it as applied)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import celeriac.contrib.django.beat.models
import celeriac.contrib.django.beat.validation


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("django_celery_beat", "0001_initial"),
        ("django_celery_beat", "0002_auto_20161118_0346"),
        ("django_celery_beat", "0003_auto_20161209_0049"),
        ("django_celery_beat", "0004_auto_20170221_0000"),
        ("django_celery_beat", "0005_add_solarschedule_events_choices"),
        ("django_celery_beat", "0006_auto_20180210_1226"),
        ("django_celery_beat", "0006_auto_20180322_0932"),
        ("django_celery_beat", "0006_periodictask_priority"),
        ("django_celery_beat", "0007_auto_20180521_0826"),
        ("django_celery_beat", "0008_auto_20180914_1922"),
        ("django_celery_beat", "0009_periodictask_headers"),
        ("django_celery_beat", "0010_auto_20190429_0326"),
        ("django_celery_beat", "0011_auto_20190508_0153"),
        ("django_celery_beat", "0012_periodictask_expire_seconds"),
        ("django_celery_beat", "0013_auto_20200609_0727"),
        ("django_celery_beat", "0014_remove_clockedschedule_enabled"),
        ("django_celery_beat", "0015_edit_solarschedule_events_choices"),
        ("django_celery_beat", "0016_alter_crontabschedule_timezone"),
        ("django_celery_beat", "0017_alter_crontabschedule_month_of_year"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="ClockedSchedule",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "clocked_time",
                    models.DateTimeField(
                        help_text="Run the task at clocked time", verbose_name="Clock Time"
                    ),
                ),
            ],
            options={
                "verbose_name": "clocked",
                "verbose_name_plural": "clocked",
                "ordering": ["clocked_time"],
            },
        ),
        migrations.CreateModel(
            name="CrontabSchedule",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "minute",
                    models.CharField(
                        default="*",
                        help_text='Cron Minutes to Run. Use "*" for "all". (Example: "0,30")',
                        max_length=240,
                        validators=[celeriac.contrib.django.beat.validation.validate_minute],
                        verbose_name="Minute(s)",
                    ),
                ),
                (
                    "hour",
                    models.CharField(
                        default="*",
                        help_text='Cron Hours to Run. Use "*" for "all". (Example: "8,20")',
                        max_length=96,
                        validators=[celeriac.contrib.django.beat.validation.validate_hour],
                        verbose_name="Hour(s)",
                    ),
                ),
                (
                    "day_of_month",
                    models.CharField(
                        default="*",
                        help_text='Cron Days Of The Month to Run. Use "*" for "all". (Example: "1,15")',
                        max_length=124,
                        validators=[celeriac.contrib.django.beat.validation.validate_day_of_month],
                        verbose_name="Day(s) Of The Month",
                    ),
                ),
                (
                    "month_of_year",
                    models.CharField(
                        default="*",
                        help_text='Cron Months (1-12) Of The Year to Run. Use "*" for "all". (Example: "1,12")',
                        max_length=64,
                        validators=[celeriac.contrib.django.beat.validation.validate_month_of_year],
                        verbose_name="Month(s) Of The Year",
                    ),
                ),
                (
                    "day_of_week",
                    models.CharField(
                        default="*",
                        help_text='Cron Days Of The Week to Run. Use "*" for "all", Sunday is 0 or 7, Monday is 1. (Example: "0,5")',
                        max_length=64,
                        validators=[celeriac.contrib.django.beat.validation.validate_day_of_week],
                        verbose_name="Day(s) Of The Week",
                    ),
                ),
                (
                    "timezone",
                    models.CharField(
                        default=celeriac.contrib.django.beat.models.crontab_schedule_celery_timezone,
                        help_text="Timezone to Run the Cron Schedule on. Default is UTC.",
                        max_length=63,
                        validators=[celeriac.contrib.django.beat.validation.validate_timezone],
                        verbose_name="Cron Timezone",
                    ),
                ),
            ],
            options={
                "verbose_name": "crontab",
                "verbose_name_plural": "crontabs",
                "ordering": [
                    "month_of_year",
                    "day_of_month",
                    "day_of_week",
                    "hour",
                    "minute",
                    "timezone",
                ],
            },
        ),
        migrations.CreateModel(
            name="IntervalSchedule",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "every",
                    models.IntegerField(
                        help_text="Number of interval periods to wait before running the task again",
                        validators=[django.core.validators.MinValueValidator(1)],
                        verbose_name="Number of Periods",
                    ),
                ),
                (
                    "period",
                    models.CharField(
                        choices=[
                            ("days", "Days"),
                            ("hours", "Hours"),
                            ("minutes", "Minutes"),
                            ("seconds", "Seconds"),
                            ("microseconds", "Microseconds"),
                        ],
                        help_text="The type of period between task runs (Example: days)",
                        max_length=24,
                        verbose_name="Interval Period",
                    ),
                ),
            ],
            options={
                "verbose_name": "interval",
                "verbose_name_plural": "intervals",
                "ordering": ["period", "every"],
            },
        ),
        migrations.CreateModel(
            name="PeriodicTasks",
            fields=[
                (
                    "ident",
                    models.SmallIntegerField(
                        default=1, primary_key=True, serialize=False, unique=True
                    ),
                ),
                ("last_update", models.DateTimeField()),
            ],
            options={
                "verbose_name": "periodic task track",
                "verbose_name_plural": "periodic task tracks",
            },
        ),
        migrations.CreateModel(
            name="SolarSchedule",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("dawn_astronomical", "Astronomical dawn"),
                            ("dawn_civil", "Civil dawn"),
                            ("dawn_nautical", "Nautical dawn"),
                            ("dusk_astronomical", "Astronomical dusk"),
                            ("dusk_civil", "Civil dusk"),
                            ("dusk_nautical", "Nautical dusk"),
                            ("solar_noon", "Solar noon"),
                            ("sunrise", "Sunrise"),
                            ("sunset", "Sunset"),
                        ],
                        help_text="The type of solar event when the job should run",
                        max_length=24,
                        verbose_name="Solar Event",
                    ),
                ),
                (
                    "latitude",
                    models.DecimalField(
                        decimal_places=6,
                        help_text="Run the task when the event happens at this latitude",
                        max_digits=9,
                        validators=[
                            django.core.validators.MinValueValidator(-90),
                            django.core.validators.MaxValueValidator(90),
                        ],
                        verbose_name="Latitude",
                    ),
                ),
                (
                    "longitude",
                    models.DecimalField(
                        decimal_places=6,
                        help_text="Run the task when the event happens at this longitude",
                        max_digits=9,
                        validators=[
                            django.core.validators.MinValueValidator(-180),
                            django.core.validators.MaxValueValidator(180),
                        ],
                        verbose_name="Longitude",
                    ),
                ),
            ],
            options={
                "verbose_name": "solar event",
                "verbose_name_plural": "solar events",
                "ordering": ("event", "latitude", "longitude"),
                "unique_together": {("event", "latitude", "longitude")},
            },
        ),
        migrations.CreateModel(
            name="PeriodicTask",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="Short Description For This Task",
                        max_length=200,
                        unique=True,
                        verbose_name="Name",
                    ),
                ),
                (
                    "task",
                    models.CharField(
                        help_text='The Name of the Celery Task that Should be Run.  (Example: "proj.tasks.import_contacts")',
                        max_length=200,
                        verbose_name="Task Name",
                    ),
                ),
                (
                    "args",
                    models.TextField(
                        blank=True,
                        default="[]",
                        help_text='JSON encoded positional arguments (Example: ["arg1", "arg2"])',
                        validators=[celeriac.contrib.django.beat.validation.validate_json_list],
                        verbose_name="Positional Arguments",
                    ),
                ),
                (
                    "kwargs",
                    models.TextField(
                        blank=True,
                        default="{}",
                        help_text='JSON encoded keyword arguments (Example: {"argument": "value"})',
                        validators=[celeriac.contrib.django.beat.validation.validate_json_object],
                        verbose_name="Keyword Arguments",
                    ),
                ),
                (
                    "queue",
                    models.CharField(
                        blank=True,
                        default=None,
                        help_text="Queue defined in CELERY_TASK_QUEUES. Leave None for default queuing.",
                        max_length=200,
                        null=True,
                        verbose_name="Queue Override",
                    ),
                ),
                (
                    "exchange",
                    models.CharField(
                        blank=True,
                        default=None,
                        help_text="Override Exchange for low-level AMQP routing",
                        max_length=200,
                        null=True,
                        verbose_name="Exchange",
                    ),
                ),
                (
                    "routing_key",
                    models.CharField(
                        blank=True,
                        default=None,
                        help_text="Override Routing Key for low-level AMQP routing",
                        max_length=200,
                        null=True,
                        verbose_name="Routing Key",
                    ),
                ),
                (
                    "headers",
                    models.TextField(
                        blank=True,
                        default="{}",
                        help_text="JSON encoded message headers for the AMQP message.",
                        validators=[celeriac.contrib.django.beat.validation.validate_json_object],
                        verbose_name="AMQP Message Headers",
                    ),
                ),
                (
                    "priority",
                    models.PositiveIntegerField(
                        blank=True,
                        default=None,
                        help_text="Priority Number between 0 and 255. Supported by: RabbitMQ, Redis (priority reversed, 0 is highest).",
                        null=True,
                        validators=[django.core.validators.MaxValueValidator(255)],
                        verbose_name="Priority",
                    ),
                ),
                (
                    "expires",
                    models.DateTimeField(
                        blank=True,
                        help_text="Datetime after which the schedule will no longer trigger the task to run",
                        null=True,
                        verbose_name="Expires Datetime",
                    ),
                ),
                (
                    "expire_seconds",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Timedelta with seconds which the schedule will no longer trigger the task to run",
                        null=True,
                        verbose_name="Expires timedelta with seconds",
                    ),
                ),
                (
                    "one_off",
                    models.BooleanField(
                        default=False,
                        help_text="If True, the schedule will only run the task a single time",
                        verbose_name="One-off Task",
                    ),
                ),
                (
                    "start_time",
                    models.DateTimeField(
                        blank=True,
                        help_text="Datetime when the schedule should begin triggering the task to run",
                        null=True,
                        verbose_name="Start Datetime",
                    ),
                ),
                (
                    "enabled",
                    models.BooleanField(
                        default=True,
                        help_text="Set to False to disable the schedule",
                        verbose_name="Enabled",
                    ),
                ),
                (
                    "last_run_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="Datetime that the schedule last triggered the task to run. Reset to None if enabled is set to False.",
                        null=True,
                        verbose_name="Last Run Datetime",
                    ),
                ),
                (
                    "total_run_count",
                    models.PositiveIntegerField(
                        default=0,
                        editable=False,
                        help_text="Running count of how many times the schedule has triggered the task",
                        verbose_name="Total Run Count",
                    ),
                ),
                (
                    "date_changed",
                    models.DateTimeField(
                        auto_now=True,
                        help_text="Datetime that this PeriodicTask was last modified",
                        verbose_name="Last Modified",
                    ),
                ),
                (
                    "description",
                    models.TextField(
                        blank=True,
                        help_text="Detailed description about the details of this Periodic Task",
                        verbose_name="Description",
                    ),
                ),
                (
                    "clocked",
                    models.ForeignKey(
                        blank=True,
                        help_text="Clocked Schedule to run the task on.  Set only one schedule type, leave the others null.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="django_celery_beat.clockedschedule",
                        verbose_name="Clocked Schedule",
                    ),
                ),
                (
                    "crontab",
                    models.ForeignKey(
                        blank=True,
                        help_text="Crontab Schedule to run the task on.  Set only one schedule type, leave the others null.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="django_celery_beat.crontabschedule",
                        verbose_name="Crontab Schedule",
                    ),
                ),
                (
                    "interval",
                    models.ForeignKey(
                        blank=True,
                        help_text="Interval Schedule to run the task on.  Set only one schedule type, leave the others null.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="django_celery_beat.intervalschedule",
                        verbose_name="Interval Schedule",
                    ),
                ),
                (
                    "solar",
                    models.ForeignKey(
                        blank=True,
                        help_text="Solar Schedule to run the task on.  Set only one schedule type, leave the others null.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="django_celery_beat.solarschedule",
                        verbose_name="Solar Schedule",
                    ),
                ),
            ],
            options={
                "verbose_name": "periodic task",
                "verbose_name_plural": "periodic tasks",
            },
        ),
    ]
