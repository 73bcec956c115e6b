"""The admin of task and group results: list, filters by state, task, worker and date,
search by id and arguments; read-only (the worker writes these rows)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from celeriac.contrib.django.results.models import GroupResult, TaskResult

__all__ = ["GroupResultAdmin", "TaskResultAdmin"]


@admin.register(TaskResult)
class TaskResultAdmin(admin.ModelAdmin):
    """Task results, newest first."""

    date_hierarchy = "date_done"
    list_display = ("task_id", "periodic_task_name", "task_name", "date_done", "status", "worker")
    list_filter = ("status", "date_done", "periodic_task_name", "task_name", "worker")
    search_fields = ("task_name", "task_id", "status", "task_args", "task_kwargs")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "task_id",
                    "task_name",
                    "periodic_task_name",
                    "status",
                    "worker",
                    "content_type",
                    "content_encoding",
                ),
                "classes": ("extrapretty", "wide"),
            },
        ),
        (
            "Parameters",
            {"fields": ("task_args", "task_kwargs"), "classes": ("extrapretty", "wide")},
        ),
        (
            "Result",
            {
                "fields": (
                    "result",
                    "date_created",
                    "date_started",
                    "date_done",
                    "traceback",
                    "meta",
                ),
                "classes": ("extrapretty", "wide"),
            },
        ),
    )

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        """Every field: results are the worker's record."""
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        """Results are not made by hand."""
        return False


@admin.register(GroupResult)
class GroupResultAdmin(admin.ModelAdmin):
    """Saved groups."""

    date_hierarchy = "date_done"
    list_display = ("group_id", "date_done")
    list_filter = ("date_done",)
    search_fields = ("group_id",)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        """Every field."""
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        """Groups are saved by ``GroupResult.save()``."""
        return False
