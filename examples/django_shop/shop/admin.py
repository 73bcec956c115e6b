"""The shop's admin: refunds with the "approve all pending refunds" action, ads, stats."""

from django.contrib import admin

from .models import Ad, AdDailyStat, AdHourlyStat, Refund
from .tasks import approve_pending_refunds


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ("order", "amount", "status", "decided_at")
    list_filter = ("status",)
    actions = ["approve_all_pending"]

    @admin.action(description="Approve all pending refunds")
    def approve_all_pending(self, request, queryset):
        result = approve_pending_refunds.delay()
        self.message_user(request, f"Approving all pending refunds (task {result.id}).")


@admin.register(Ad)
class AdAdmin(admin.ModelAdmin):
    list_display = ("name",)


@admin.register(AdHourlyStat)
class AdHourlyStatAdmin(admin.ModelAdmin):
    list_display = ("ad", "hour", "clicks", "impressions")
    list_filter = ("ad",)


@admin.register(AdDailyStat)
class AdDailyStatAdmin(admin.ModelAdmin):
    list_display = ("ad", "day", "clicks", "impressions")
    list_filter = ("ad",)
