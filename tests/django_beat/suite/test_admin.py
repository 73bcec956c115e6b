"""The admin and the models' validation: actions, the crontab in English, clear errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from celeriac import Celery
from celeriac.contrib.django.beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app() -> Any:
    app = Celery("admin-suite", broker=f"memory://{uuid.uuid4().hex}", backend="memory://")
    app.set_current()

    @app.task(name="shop.ping")
    def ping(*args: Any, **kwargs: Any) -> None: ...

    yield app
    app.close()


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {"minute": "0", "hour": "18", "timezone": "Europe/Kyiv"},
            "At 18:00, every day (Europe/Kyiv)",
        ),
        ({"minute": "*"}, "Every minute, every day (UTC)"),
        (
            {"minute": "*/15", "hour": "8-17", "day_of_week": "mon-fri"},
            "Every 15 minutes of hours 8-17, on Monday to Friday (UTC)",
        ),
        ({"minute": "0"}, "At minute 0 of every hour, every day (UTC)"),
        (
            {"minute": "30", "hour": "4", "day_of_month": "1", "month_of_year": "1,7"},
            "At 04:30, on day 1 of the month, in January and July (UTC)",
        ),
    ],
)
def test_crontabs_are_described_in_english(fields: dict[str, str], text: str) -> None:
    assert CrontabSchedule(**{"timezone": "UTC", **fields}).human_readable == text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"minute": "61"}, "minute", "'61' is not a valid minute"),
        ({"hour": "*/"}, "hour", "'*/' is not a valid hour"),
        ({"day_of_month": "32"}, "day_of_month", "is not a valid day of month"),
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not a time zone name"),
    ],
)
def test_crontab_fields_are_validated(fields: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        CrontabSchedule(**fields).full_clean()
    assert message in " ".join(info.value.message_dict[field])


def test_periodic_task_rules_give_clear_errors() -> None:
    interval = IntervalSchedule.objects.create(every=1, period="minutes")
    cron = CrontabSchedule.objects.create(minute="0")
    with pytest.raises(ValidationError, match="Set one schedule"):
        PeriodicTask(name="none", task="t").full_clean()
    with pytest.raises(ValidationError) as both:
        PeriodicTask(name="two", task="t", interval=interval, crontab=cron).full_clean()
    assert "Set only one schedule" in both.value.message_dict["crontab"][0]
    clocked = ClockedSchedule.objects.create(clocked_time="2030-01-01T00:00Z")
    with pytest.raises(ValidationError) as once:
        PeriodicTask(name="c", task="t", clocked=clocked).full_clean()
    assert "One-off" in once.value.message_dict["one_off"][0]
    with pytest.raises(ValidationError) as args:
        PeriodicTask(name="a", task="t", interval=interval, args='{"a": 1}').full_clean()
    assert "JSON list" in args.value.message_dict["args"][0]
    with pytest.raises(ValidationError) as kwargs:
        PeriodicTask(name="k", task="t", interval=interval, kwargs="{oops").full_clean()
    assert "not valid JSON" in kwargs.value.message_dict["kwargs"][0]


def test_admin_actions_enable_disable_and_run_now(
    admin_client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[Any, ...]] = []
    original = app.send_task
    monkeypatch.setattr(app, "send_task", lambda *a, **o: sent.append((*a, o)) or original(*a, **o))
    interval = IntervalSchedule.objects.create(every=1, period="hours")
    task = PeriodicTask.objects.create(
        name="nightly", task="shop.ping", interval=interval, args="[1]", queue="q1"
    )
    url = "/admin/django_celery_beat/periodictask/"
    page = admin_client.get(url)
    assert page.status_code == 200 and b"nightly" in page.content and b"every hour" in page.content

    def act(action: str) -> Any:
        return admin_client.post(
            url, {"action": action, "_selected_action": [task.pk]}, follow=True
        )

    assert b"1 periodic task disabled" in act("disable_tasks").content
    assert PeriodicTask.objects.get(pk=task.pk).enabled is False
    assert b"1 periodic task enabled" in act("enable_tasks").content
    assert PeriodicTask.objects.get(pk=task.pk).enabled is True
    answer = act("run_tasks")
    assert b"1 task sent: nightly" in answer.content
    assert sent == [
        ("shop.ping", [1], {}, {"queue": "q1", "headers": {"periodic_task_name": "nightly"}})
    ]


def test_the_change_form_shows_validation_errors(admin_client: Any, app: Any) -> None:
    answer = admin_client.post(
        "/admin/django_celery_beat/crontabschedule/add/",
        {
            "minute": "99",
            "hour": "*",
            "day_of_week": "*",
            "day_of_month": "*",
            "month_of_year": "*",
            "timezone": "UTC",
        },
    )
    assert answer.status_code == 200
    assert b"is not a valid minute" in answer.content
    form = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    assert b"shop.ping" in form.content  # registered tasks offered in a list
