"""Django's tasks framework (the ``django-tasks`` backport on this Django; ``django.tasks``
on Django 6) on celeriac: ``@task`` functions run on a real worker, ``TaskResult`` reads
celeriac's results; priorities, queue names, ``run_after`` and ``ENQUEUE_ON_COMMIT``."""

from __future__ import annotations

import pytest

from django_integration.djproject import django_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

pytest.importorskip("django")
try:
    import django.tasks  # noqa: F401
except ImportError:
    pytest.importorskip("django_tasks")

TASKS_MODULE = """\
import os
import time
from pathlib import Path

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


def _note(text):
    with open(os.environ["DJ_ORDER_FILE"], "a") as out:
        out.write(text + "\\n")


@task()
def add(x, y):
    return x + y


@task()
def explode(message):
    raise ValueError(message)


@task(takes_context=True)
def attempt(context, label):
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}


@task(queue_name="other")
def on_other_queue():
    return "other"


@task()
def noted(label):
    _note(label)
    return label
"""

HELPERS = """
import time
try:
    from django.tasks import TaskResultStatus
except ImportError:
    from django_tasks import TaskResultStatus
from app1 import jobs

def finished(result, timeout=30):
    deadline = time.time() + timeout
    while not result.is_finished:
        assert time.time() < deadline, result.status
        time.sleep(0.05)
        result.refresh()
    return result
"""

ROUND = (
    HELPERS
    + """
import datetime as dt
from django.utils import timezone

ok = jobs.add.enqueue(2, 3)
status_at_enqueue = ok.status
finished(ok)
again = jobs.add.get_result(ok.id)
bad = finished(jobs.explode.enqueue("boom"))
ctx = finished(jobs.attempt.enqueue("x"))
other = finished(jobs.on_other_queue.enqueue())
when = timezone.now() + dt.timedelta(seconds=2)
later = jobs.add.using(run_after=when).enqueue(1, 1)
time.sleep(0.5)
later.refresh()
early_status = later.status
finished(later)
try:
    jobs.add.get_result("no-such-id")
    missing = None
except Exception as exc:
    missing = type(exc).__name__
print(json.dumps({
    "enqueued": status_at_enqueue, "status": ok.status, "value": ok.return_value,
    "args": ok.args, "workers": len(ok.worker_ids), "timing": bool(
        ok.enqueued_at and ok.started_at and ok.finished_at
        and ok.enqueued_at <= ok.started_at <= ok.finished_at),
    "again": again.return_value,
    "bad": bad.status, "error": bad.errors[0].exception_class.__name__,
    "traceback": "boom" in bad.errors[0].traceback,
    "ctx": ctx.return_value["attempt"], "ctx_id": ctx.return_value["id"] == ctx.id,
    "other": other.return_value,
    "early": early_status, "late_ok": later.return_value,
    "not_before": later.started_at >= when,
    "missing": missing,
}))
"""
)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_tasks_run_on_a_celeriac_worker(tmp_path, database):
    with django_project(
        tmp_path, database, DJ_TASKS="1", DJ_ORDER_FILE=str(tmp_path / "order")
    ) as project:
        (tmp_path / "app1" / "jobs.py").write_text(TASKS_MODULE)
        project.manage("migrate", "--noinput")
        project.start_django_worker("-Q", "celery,other", concurrency=2)
        out = project.run(ROUND)
        assert out == {
            "enqueued": "READY",
            "status": "SUCCESSFUL",
            "value": 5,
            "args": [2, 3],
            "workers": 1,
            "timing": True,
            "again": 5,
            "bad": "FAILED",
            "error": "ValueError",
            "traceback": True,
            "ctx": 1,
            "ctx_id": True,
            "other": "other",
            "early": "READY",
            "late_ok": 2,
            "not_before": True,
            "missing": "TaskResultDoesNotExist",
        }


PRIORITY = (
    HELPERS
    + """
results = [jobs.noted.using(priority=p).enqueue(f"p{p}") for p in (-50, 0, 100, -100, 50)]
print(json.dumps([r.id for r in results]))
"""
)


def test_priority_orders_waiting_tasks(tmp_path):
    order = tmp_path / "order"
    with django_project(tmp_path, "sqlite", DJ_TASKS="1", DJ_ORDER_FILE=str(order)) as project:
        (tmp_path / "app1" / "jobs.py").write_text(TASKS_MODULE)
        project.manage("migrate", "--noinput")
        project.run(PRIORITY)  # all five wait in the broker
        project.start_django_worker(
            "--prefetch-multiplier", "1", concurrency=1, env={"DJ_ORDER_FILE": str(order)}
        )
        from helpers.processes import wait_until

        wait_until(
            lambda: len(order.read_text().split()) == 5 if order.exists() else False, timeout=30
        )
        assert order.read_text().split() == ["p100", "p50", "p0", "p-50", "p-100"]


ON_COMMIT = (
    HELPERS
    + """
from django.db import transaction
try:
    with transaction.atomic():
        dropped = jobs.add.enqueue(1, 2)
        raise RuntimeError("roll back")
except RuntimeError:
    pass
with transaction.atomic():
    kept = jobs.add.enqueue(3, 4)
finished(kept)
time.sleep(1.0)
dropped.refresh()
print(json.dumps([kept.return_value, dropped.status]))
"""
)


def test_enqueue_on_commit(tmp_path):
    with django_project(
        tmp_path, "sqlite", DJ_TASKS="on_commit", DJ_ORDER_FILE=str(tmp_path / "o")
    ) as project:
        (tmp_path / "app1" / "jobs.py").write_text(TASKS_MODULE)
        project.manage("migrate", "--noinput")
        project.start_django_worker(concurrency=1)
        assert project.run(ON_COMMIT) == [7, "READY"]
