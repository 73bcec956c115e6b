"""Sign-ups, refunds and ads with their click/impression events and statistics."""

import secrets

from django.conf import settings
from django.db import models


class Activation(models.Model):
    """The activation token mailed to a new user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    token = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe)


class Refund(models.Model):
    """A customer's refund request: pending until approved or rejected."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    order = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"refund of {self.amount} for {self.order} ({self.status})"


class Ad(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


class AdEvent(models.Model):
    """One click or impression."""

    class Kind(models.TextChoices):
        CLICK = "click"
        IMPRESSION = "impression"

    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)


class AdHourlyStat(models.Model):
    """Clicks and impressions of one ad in the hour starting at ``hour``."""

    ad = models.ForeignKey(Ad, on_delete=models.CASCADE)
    hour = models.DateTimeField()
    clicks = models.PositiveIntegerField(default=0)
    impressions = models.PositiveIntegerField(default=0)

    class Meta:
        unique_together = [("ad", "hour")]


class AdDailyStat(models.Model):
    """One ad's totals for a day (in the project's time zone)."""

    ad = models.ForeignKey(Ad, on_delete=models.CASCADE)
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0)
    impressions = models.PositiveIntegerField(default=0)

    class Meta:
        unique_together = [("ad", "day")]
