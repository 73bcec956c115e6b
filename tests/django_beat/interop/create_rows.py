"""With django-celery-beat itself: migrate, then create one row of each schedule kind."""

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django_celery_beat.models import (  # noqa: E402
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

call_command("migrate", verbosity=0)
every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
cron = CrontabSchedule.objects.create(minute="0", hour="18", timezone="Europe/Kyiv")
sun = SolarSchedule.objects.create(event="sunset", latitude=50.45, longitude=30.52)
at = ClockedSchedule.objects.create(clocked_time="2030-01-01T00:00:00Z")
PeriodicTask.objects.create(
    name="interval",
    task="shop.poll",
    interval=every,
    args='[1, "a"]',
    kwargs='{"k": 2}',
    queue="io",
    priority=5,
    expire_seconds=60,
    headers='{"h": "v"}',
)
PeriodicTask.objects.create(name="cron", task="shop.reject", crontab=cron)
PeriodicTask.objects.create(name="sun", task="shop.sunset", solar=sun)
PeriodicTask.objects.create(name="once", task="shop.once", clocked=at, one_off=True)
PeriodicTask.objects.create(name="off", task="shop.off", interval=every, enabled=False)
print("created", PeriodicTask.objects.count())
