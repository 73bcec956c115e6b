"""The admin of periodic tasks and schedules: enable, disable and run-now actions, crontabs
described in English, and the models' validation shown on the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from celeriac.contrib.django.beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from celeriac.execution.context import get_current_app

__all__ = ["PeriodicTaskAdmin", "PeriodicTaskForm", "registered_task_names"]


def _current_app() -> Any:
    app: Any = get_current_app()
    app.finalize()  # the installed apps' tasks, which autodiscover_tasks() left for later
    return app


def registered_task_names() -> list[str]:
    """The names of the tasks the project's app knows (not celeriac's built-ins)."""
    try:
        tasks = _current_app().tasks
    except Exception:  # no app configured: free text only
        return []
    return sorted(name for name in tasks if not name.startswith("celery."))


class PeriodicTaskForm(forms.ModelForm):
    """The periodic task form: a registered task from a list, or any name typed in."""

    regtask = forms.ChoiceField(label="Task (registered)", required=False, choices=())
    task = forms.CharField(label="Task (custom)", required=False, max_length=200)

    class Meta:
        model = PeriodicTask
        exclude = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = registered_task_names()
        self.fields["regtask"].choices = [("", "---------"), *((n, n) for n in names)]

    def clean(self) -> dict[str, Any]:
        """The task name comes from either field; the model's rules give the other errors."""
        data: dict[str, Any] = super().clean()
        if data.get("regtask"):
            data["task"] = data["regtask"]
        if not data.get("task"):
            self.add_error("task", "Choose a registered task or type a task name.")
        return data


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    """Periodic tasks: list, filters, and the enable/disable/run-now actions."""

    form = PeriodicTaskForm
    date_hierarchy = "start_time"
    list_display = (
        "name",
        "enabled",
        "task",
        "schedule_description",
        "last_run_at",
        "total_run_count",
        "one_off",
    )
    list_filter = ["enabled", "one_off", "task", "start_time", "last_run_at"]
    search_fields = ["name", "task", "description"]
    actions = ["enable_tasks", "disable_tasks", "run_tasks"]
    readonly_fields = ("last_run_at", "total_run_count", "date_changed")
    fieldsets = (
        (None, {"fields": ("name", "regtask", "task", "enabled", "description")}),
        ("Schedule", {"fields": ("interval", "crontab", "solar", "clocked", "start_time")}),
        ("Arguments", {"fields": ("args", "kwargs"), "classes": ("collapse",)}),
        (
            "Execution options",
            {
                "fields": (
                    "one_off",
                    "expires",
                    "expire_seconds",
                    "queue",
                    "exchange",
                    "routing_key",
                    "priority",
                    "headers",
                ),
                "classes": ("collapse",),
            },
        ),
        ("Runs", {"fields": ("last_run_at", "total_run_count", "date_changed")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicTask]:
        """Tasks with their schedules (one query for the list)."""
        queryset: QuerySet[PeriodicTask] = super().get_queryset(request)
        return queryset.select_related("interval", "crontab", "solar", "clocked")

    @admin.display(description="Schedule")
    def schedule_description(self, obj: PeriodicTask) -> str:
        """The schedule in words (crontabs in English with their zone)."""
        if obj.crontab is not None:
            return str(obj.crontab.human_readable)
        row = obj.schedule_row
        return str(row) if row is not None else "no schedule"

    def _set_enabled(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTask], on: bool
    ) -> None:
        count = 0
        for task in queryset.filter(enabled=not on):
            task.enabled = on
            task.save()  # save(): signals move the trigger and log the change
            count += 1
        word = "enabled" if on else "disabled"
        self.message_user(request, f"{count} periodic task{'s' * (count != 1)} {word}.")

    @admin.action(description="Enable selected periodic tasks")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Enable the selected tasks."""
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected periodic tasks")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Disable the selected tasks."""
        self._set_enabled(request, queryset, False)

    @admin.action(description="Run selected tasks now")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Send each selected task now, with its arguments and options (its schedule and
        last run are not touched)."""
        app = _current_app()
        unknown = [t.task for t in queryset if t.task not in app.tasks]
        if unknown:
            self.message_user(
                request,
                "Not sent: tasks not registered in this process: "
                + ", ".join(sorted(set(unknown))),
                level=messages.ERROR,
            )
            return
        sent = []
        for task in queryset:
            result = app.send_task(
                task.task, task.loaded_args(), task.loaded_kwargs(), **task.send_options()
            )
            sent.append(f"{task.name} ({result.id})")
        self.message_user(
            request, f"{len(sent)} task{'s' * (len(sent) != 1)} sent: {', '.join(sent)}"
        )


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(admin.ModelAdmin):
    """Crontabs, with their description in English."""

    list_display = ("__str__", "human_readable")
    search_fields = ["minute", "hour", "day_of_week", "day_of_month", "month_of_year"]


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(admin.ModelAdmin):
    """Intervals."""


@admin.register(SolarSchedule)
class SolarScheduleAdmin(admin.ModelAdmin):
    """Solar events."""


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(admin.ModelAdmin):
    """One-off times."""
