"""The shop with a real worker and beat: e-mail, refunds, the 18:00 Kyiv job across a DST
change, ad statistics, admin edits of periodic tasks, and the main_worker queue."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from processes import wait_until
from shop.models import Ad, AdDailyStat, AdEvent, AdHourlyStat, Refund
from shop.tasks import roll_up_daily_ad_stats, small_task, store_hourly_ad_stats

from celeriac.contrib.django.beat.models import IntervalSchedule, PeriodicTask

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

KYIV = ZoneInfo("Europe/Kyiv")


def refund_status(refund: Refund) -> str:
    refund.refresh_from_db()
    return refund.status


def test_signup_mails_the_activation_link_from_the_worker(client, shop, worker_outbox) -> None:
    answer = client.post(
        "/signup/", {"username": "olena", "email": "olena@example.com", "password": "s3cret!"}
    )
    assert answer.status_code == 200 and b"olena@example.com" in answer.content
    assert mail.outbox == []  # the view sent nothing itself
    wait_until(worker_outbox, what="the activation e-mail")
    message = mail.outbox[0]
    assert message.to == ["olena@example.com"]
    assert message.subject == "Activate your shop account"
    link = next(word for word in message.body.split() if word.startswith("http://"))
    assert client.get(link.removeprefix("http://testserver")).status_code == 200
    from django.contrib.auth.models import User

    assert User.objects.get(username="olena").is_active


def test_admin_action_approves_pending_refunds_through_the_worker(admin_client, shop) -> None:
    pending = [Refund.objects.create(order=f"o{i}", amount="9.99") for i in range(3)]
    done = Refund.objects.create(order="old", amount="1.00", status=Refund.Status.REJECTED)
    answer = admin_client.post(
        "/admin/shop/refund/",
        {"action": "approve_all_pending", "_selected_action": [pending[0].pk]},
        follow=True,
    )
    assert b"Approving all pending refunds" in answer.content
    wait_until(
        lambda: all(refund_status(r) == "approved" for r in pending), what="refunds approved"
    )
    assert refund_status(done) == "rejected"


def test_refunds_are_rejected_at_18_kyiv_on_both_sides_of_the_dst_change(shop, beat) -> None:
    entry = "reject-pending-refunds"
    # Saturday 30 March 2024: Kyiv is UTC+2; on Sunday 31 March it is UTC+3 (from 03:00).
    before = Refund.objects.create(order="sat", amount="5.00")
    beat(datetime(2024, 3, 30, 17, 59, tzinfo=KYIV))
    shop.set_clock(datetime(2024, 3, 30, 17, 59, 59, tzinfo=KYIV))
    wait_until(lambda: PeriodicTask.objects.filter(name=entry).exists(), what="the entry")
    shop.set_clock(datetime(2024, 3, 30, 17, 59, 59, 900000, tzinfo=KYIV))
    assert not _ran_after(entry, datetime(2024, 3, 30, tzinfo=UTC), wait=1.0)
    assert refund_status(before) == "pending"
    shop.set_clock(datetime(2024, 3, 30, 18, 0, tzinfo=KYIV))
    wait_until(lambda: refund_status(before) == "rejected", what="Saturday's rejection")
    assert _last_run(entry) == datetime(2024, 3, 30, 16, 0, tzinfo=UTC)

    after = Refund.objects.create(order="sun", amount="6.00")
    shop.set_clock(datetime(2024, 3, 31, 17, 59, 59, tzinfo=KYIV))  # 14:59:59 UTC
    assert not _ran_after(entry, datetime(2024, 3, 31, tzinfo=UTC), wait=1.0)
    assert refund_status(after) == "pending"
    shop.set_clock(datetime(2024, 3, 31, 18, 0, tzinfo=KYIV))  # 15:00 UTC, not 16:00
    wait_until(lambda: refund_status(after) == "rejected", what="Sunday's rejection")
    assert _last_run(entry) == datetime(2024, 3, 31, 15, 0, tzinfo=UTC)


def _last_run(name: str) -> datetime | None:
    return wait_until(
        lambda: PeriodicTask.objects.get(name=name).last_run_at, what=f"{name}'s last run"
    )


def _ran_after(name: str, since: datetime, wait: float) -> bool:
    import time

    time.sleep(wait)
    last = PeriodicTask.objects.get(name=name).last_run_at
    return last is not None and last >= since


def test_hourly_and_daily_ad_statistics(shop) -> None:
    rng = random.Random(11)
    ads = [Ad.objects.create(name=f"ad{i}") for i in range(3)]
    day = date(2024, 3, 31)  # the spring-forward day: 23 hours in Kyiv
    start = datetime(2024, 3, 31, tzinfo=KYIV).astimezone(UTC)
    end = datetime(2024, 4, 1, tzinfo=KYIV).astimezone(UTC)
    hours = int((end - start).total_seconds() // 3600)
    assert hours == 23
    events, expected_hourly = [], {}
    for ad in ads:
        for hour in range(hours):
            at = start + timedelta(hours=hour)
            clicks, impressions = rng.randint(0, 5), rng.randint(0, 20)
            expected_hourly[(ad.pk, at)] = (clicks, impressions)
            for kind, count in (("click", clicks), ("impression", impressions)):
                events += [
                    AdEvent(ad=ad, kind=kind, at=at + timedelta(seconds=rng.randint(0, 3599)))
                    for _ in range(count)
                ]
    # events outside the day are not counted
    events.append(AdEvent(ad=ads[0], kind="click", at=start - timedelta(seconds=1)))
    events.append(AdEvent(ad=ads[0], kind="click", at=end))
    AdEvent.objects.bulk_create(events)
    results = [
        store_hourly_ad_stats.delay(hour=(start + timedelta(hours=h)).isoformat())
        for h in range(hours)
    ]
    for result in results:
        result.get(timeout=60)
    stored = {
        (row.ad_id, row.hour): (row.clicks, row.impressions) for row in AdHourlyStat.objects.all()
    }
    assert {k: v for k, v in stored.items() if v != (0, 0)} == {
        k: v for k, v in expected_hourly.items() if v != (0, 0)
    }
    assert roll_up_daily_ad_stats.delay(day=day.isoformat()).get(timeout=60) == len(ads)
    for ad in ads:
        daily = AdDailyStat.objects.get(ad=ad, day=day)
        mine = [v for (ad_id, _), v in expected_hourly.items() if ad_id == ad.pk]
        assert (daily.clicks, daily.impressions) == (
            sum(c for c, _ in mine),
            sum(i for _, i in mine),
        )


def test_editing_a_periodic_task_in_the_admin_changes_what_beat_sends(
    admin_client, shop, beat
) -> None:
    first, second, untouched = (Refund.objects.create(order=o, amount="1") for o in "abc")
    every = IntervalSchedule.objects.create(every=10, period="seconds")
    task = PeriodicTask.objects.create(
        name="approve-one",
        task="shop.tasks.approve_pending_refunds",
        interval=every,
        args=json.dumps([[first.pk]]),
    )
    # Just after the DST test's last 18:00 run: the project's own entries (their last runs
    # are kept in the broker for the session) have nothing to catch up, so the 18:00
    # rejection does not reject these refunds first.
    t0 = datetime(2024, 3, 31, 15, 0, 30, tzinfo=UTC)
    beat(t0)
    shop.set_clock(t0 + timedelta(seconds=10))
    wait_until(lambda: refund_status(first) == "approved", what="the first approval")

    form = {
        "name": "approve-one",
        "regtask": "",
        "task": "shop.tasks.approve_pending_refunds",
        "enabled": "on",
        "description": "",
        "interval": every.pk,
        "args": json.dumps([[second.pk]]),
        "kwargs": "{}",
        "headers": "{}",
        "expire_seconds": "",
        "priority": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
    }
    answer = admin_client.post(f"/admin/django_celery_beat/periodictask/{task.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[-3000:]
    import time

    time.sleep(0.6)  # beat reads the trigger every 0.2 s (--max-interval)
    shop.set_clock(t0 + timedelta(seconds=20))
    wait_until(lambda: refund_status(second) == "approved", what="the edited arguments")
    assert refund_status(untouched) == "pending"


def test_small_task_runs_on_the_main_worker_queue(shop) -> None:
    from proj.celery import app

    from celeriac.contrib.django.beat.scheduler import DatabaseScheduler

    result = small_task.delay()
    assert result.get(timeout=30) == "small"
    assert app.conf.task_routes["shop.tasks.small_task"] == {"queue": "main_worker"}
    DatabaseScheduler(app).setup_schedule()  # what beat writes into the table at start
    entry = PeriodicTask.objects.get(name="small-task-every-minute")
    assert entry.queue == "main_worker" and entry.crontab.minute == "*"


def test_result_rows_appear_in_the_admin(admin_client, shop) -> None:
    from celeriac.contrib.django.results.models import TaskResult

    result = small_task.delay()
    assert result.get(timeout=30) == "small"
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == "SUCCESS" and row.task_name == "shop.tasks.small_task"
    assert row.worker.startswith("main_worker@")
    listing = admin_client.get("/admin/django_celery_results/taskresult/")
    assert listing.status_code == 200 and result.id in listing.content.decode()
    filtered = admin_client.get(
        "/admin/django_celery_results/taskresult/",
        {"status": "SUCCESS", "task_name": "shop.tasks.small_task", "q": result.id},
    )
    assert result.id in filtered.content.decode()
    assert filtered.context["cl"].result_count == 1
    detail = admin_client.get(f"/admin/django_celery_results/taskresult/{row.pk}/change/")
    assert detail.status_code == 200 and "small" in detail.content.decode()
