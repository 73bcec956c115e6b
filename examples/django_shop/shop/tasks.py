"""The shop's tasks: e-mail, refunds, ad statistics, two timed tasks and a long report."""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from celeriac import shared_task
from celeriac.utils.log import get_task_logger

from .models import Activation, Ad, AdDailyStat, AdEvent, AdHourlyStat, Refund

logger = get_task_logger(__name__)


@shared_task
def send_activation_email(user_id, base_url="http://localhost:8000"):
    """Mail the activation link (with Django's mail settings) to a new user."""
    user = get_user_model().objects.get(pk=user_id)
    token = Activation.objects.get(user=user).token
    link = base_url + reverse("activate", args=[token])
    message = EmailMessage(
        subject="Activate your shop account",
        body=f"Hello {user.username},\n\nopen {link} to activate your account.\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.send()
    logger.info("activation e-mail sent to %s", user.email)
    return user.email


def _decide(status, ids=None):
    pending = Refund.objects.filter(status=Refund.Status.PENDING)
    if ids is not None:
        pending = pending.filter(pk__in=ids)
    return pending.update(status=status, decided_at=timezone.now())


@shared_task
def approve_pending_refunds(ids=None):
    """Approve the pending refunds (all, or those of ``ids``); return how many."""
    count = _decide(Refund.Status.APPROVED, ids)
    logger.info("approved %d refunds", count)
    return count


@shared_task
def reject_pending_refunds():
    """Reject every refund still pending (beat runs this daily at 18:00 Kyiv time)."""
    count = _decide(Refund.Status.REJECTED)
    logger.info("rejected %d refunds", count)
    return count


def _hour_start(value):
    return value.replace(minute=0, second=0, microsecond=0)


@shared_task
def store_hourly_ad_stats(hour=None):
    """Store each ad's clicks and impressions of one hour (default: the hour just ended).

    ``hour`` is an ISO datetime of the hour's start.
    """
    start = (
        datetime.fromisoformat(hour) if hour else _hour_start(timezone.now()) - timedelta(hours=1)
    )
    end = start + timedelta(hours=1)
    counts = (
        AdEvent.objects.filter(at__gte=start, at__lt=end)
        .values("ad")
        .annotate(
            clicks=Count("id", filter=Q(kind=AdEvent.Kind.CLICK)),
            impressions=Count("id", filter=Q(kind=AdEvent.Kind.IMPRESSION)),
        )
    )
    with transaction.atomic():
        for row in counts:
            AdHourlyStat.objects.update_or_create(
                ad_id=row["ad"],
                hour=start,
                defaults={"clicks": row["clicks"], "impressions": row["impressions"]},
            )
    return len(counts)


@shared_task
def roll_up_daily_ad_stats(day=None):
    """Sum one day's hourly rows into per-ad daily totals (default: yesterday, local time).

    ``day`` is an ISO date; the day's hours are those of the project's time zone.
    """
    zone = timezone.get_current_timezone()
    local_day = (
        datetime.fromisoformat(day).date()
        if day
        else (timezone.localtime() - timedelta(days=1)).date()
    )
    start = datetime.combine(local_day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(local_day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    totals = (
        AdHourlyStat.objects.filter(hour__gte=start, hour__lt=end)
        .values("ad")
        .annotate(clicks=Sum("clicks"), impressions=Sum("impressions"))
    )
    with transaction.atomic():
        for row in totals:
            AdDailyStat.objects.update_or_create(
                ad_id=row["ad"],
                day=local_day,
                defaults={"clicks": row["clicks"], "impressions": row["impressions"]},
            )
    return len(totals)


@shared_task
def small_task():
    """One second of work (routed to the main_worker queue)."""
    time.sleep(1)
    return "small"


@shared_task
def big_task():
    """Ten seconds of work (routed to the main_worker queue)."""
    time.sleep(10)
    return "big"


@shared_task(bind=True)
def build_report(self, total=30, step=0.2):
    """A long task that reports its progress (the report page draws it as a bar)."""
    for done in range(1, total + 1):
        time.sleep(step)
        self.update_state(state="PROGRESS", meta={"current": done, "total": total})
    return {"current": total, "total": total, "ads": Ad.objects.count()}
