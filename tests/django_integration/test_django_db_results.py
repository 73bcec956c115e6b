"""``django-db`` and ``django-cache``: results in the project's database through a real
prefork worker, on SQLite, PostgreSQL and MariaDB; the admin lists, filters and searches them."""

from __future__ import annotations

import pytest

from django_integration.djproject import django_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

pytest.importorskip("django")

RESULTS_APP = "celeriac.contrib.django.results"

ROUND_TRIP = """
import datetime as dt
from django.utils import timezone
from celeriac import group, chord
from celeriac.contrib.django.results.models import TaskResult, GroupResult, ChordCounter
from proj import celery_app as app
from app1.tasks import add, fail, progress

ok = add.delay(2, 3)
value = ok.get(timeout=30)
row = TaskResult.objects.get(task_id=ok.id)
bad = fail.delay("boom")
try:
    bad.get(timeout=30)
    raised = None
except ValueError as exc:
    raised = str(exc)
bad_row = TaskResult.objects.get(task_id=bad.id)
prog = progress.delay(7)
prog_value = prog.get(timeout=30)

saved = group(add.s(i, i) for i in range(3)).apply_async()
saved_values = saved.get(timeout=30)
saved.save()
from celeriac.result import GroupResult as GR
restored = GR.restore(saved.id, app=app)

from celeriac import signature
chorded = chord([add.s(i, 1) for i in range(4)])(signature("app1.sum_all"))
chord_value = chorded.get(timeout=30)
import time
deadline = time.time() + 10  # the counter goes after the body is sent, maybe after it ran
while ChordCounter.objects.exists() and time.time() < deadline:
    time.sleep(0.05)
counters_left = ChordCounter.objects.count()

# chord parts: a redelivered part is not counted twice; the claim has the parts in order
backend = app.backend
backend.set_chord_size("g-dup", 2)
part = lambda tid, i: backend.encode_chord_part(tid, "SUCCESS", i * 10)
first = backend.chord_part_return("g-dup", "t-b", 1, part("t-b", 1))
again = backend.chord_part_return("g-dup", "t-b", 1, part("t-b", 1))
claim = backend.chord_part_return("g-dup", "t-a", 0, part("t-a", 0))
late = backend.chord_part_return("g-dup", "t-a", 0, part("t-a", 0))
parts = [backend.decode_chord_part(m) for m in claim.members] if claim else None
backend.chord_cleanup("g-dup", claim.token)
chord_parts = [first, again, late, parts]

# result_expires: an old row goes with celery.backend_cleanup
TaskResult.objects.filter(task_id=ok.id).update(date_done=timezone.now() - dt.timedelta(days=3))
expired_reads_pending = app.AsyncResult(ok.id).state
app.send_task("celery.backend_cleanup")
import time
deadline = time.time() + 30
while TaskResult.objects.filter(task_id=ok.id).exists() and time.time() < deadline:
    time.sleep(0.1)
print(json.dumps({
    "value": value, "status": row.status, "name": row.task_name, "worker": row.worker,
    "args": row.task_args, "content_type": row.content_type, "result": row.result,
    "raised": raised, "bad_status": bad_row.status,
    "traceback": "ValueError" in (bad_row.traceback or ""),
    "prog": prog_value, "saved": saved_values,
    "restored": [r.id for r in restored.results] == [r.id for r in saved.results],
    "chord": chord_value, "counters_left": counters_left,
    "expired": expired_reads_pending,
    "cleaned": not TaskResult.objects.filter(task_id=ok.id).exists(),
    "ok_id": ok.id,
    "chord_parts": [chord_parts[0], chord_parts[1], chord_parts[2],
                    [list(p) for p in chord_parts[3]]],
}))
"""

SUM_TASK = """

@shared_task(name="app1.sum_all")
def sum_all(values):
    return sum(values)
"""

ADMIN = """
from django.contrib.auth.models import User
from django.test import Client
from celeriac.contrib.django.results.models import TaskResult

User.objects.create_superuser("admin", "a@example.com", "pw")
client = Client()
client.force_login(User.objects.get(username="admin"))
base = "/admin/django_celery_results/taskresult/"
ids = [r.task_id for r in TaskResult.objects.all()]
failed = TaskResult.objects.filter(status="FAILURE").first()
listing = client.get(base).content.decode()
by_state = client.get(base, {"status__exact": "FAILURE"}).content.decode()
by_name = client.get(base, {"task_name__exact": "app1.add"}).content.decode()
by_worker = client.get(base, {"worker__exact": failed.worker}).content.decode()
by_id = client.get(base, {"q": failed.task_id}).content.decode()
by_args = client.get(base, {"q": "boom"}).content.decode()
by_date = client.get(base, {"date_done__gte": "2000-01-01"}).content.decode()
detail = client.get(f"{base}{failed.pk}/change/")
print(json.dumps({
    "all_listed": all(i in listing for i in ids),
    "state": failed.task_id in by_state and all(
        r.task_id not in by_state for r in TaskResult.objects.exclude(status="FAILURE")),
    "name": failed.task_id not in by_name and any(
        r.task_id in by_name for r in TaskResult.objects.filter(task_name="app1.add")),
    "worker": failed.task_id in by_worker,
    "id": failed.task_id in by_id,
    "args": failed.task_id in by_args and "1 result" in by_args,
    "date": failed.task_id in by_date,
    "detail": detail.status_code == 200 and "ValueError" in detail.content.decode(),
    "groups": client.get("/admin/django_celery_results/groupresult/").status_code,
}))
"""


@pytest.mark.parametrize("database", ["sqlite", "postgres", "mysql"])
def test_django_db_results_through_a_worker(tmp_path, database):
    with django_project(
        tmp_path,
        database,
        DJ_EXTRA_APPS=RESULTS_APP,
        DJ_RESULT_BACKEND="django-db",
        DJ_RESULT_EXTENDED="1",
    ) as project:
        (tmp_path / "app1" / "tasks.py").write_text(
            (tmp_path / "app1" / "tasks.py").read_text() + SUM_TASK
        )
        project.manage("migrate", "--noinput")
        project.start_django_worker(concurrency=2)
        out = project.run(ROUND_TRIP)
        assert out["value"] == 5 and out["status"] == "SUCCESS"
        assert out["name"] == "app1.add" and out["worker"]
        assert out["args"] == '"(2, 3)"'  # the repr, serialized, as django-celery-results
        assert out["content_type"] == "application/json" and out["result"] == "5"
        assert out["raised"] == "boom" and out["bad_status"] == "FAILURE" and out["traceback"]
        assert out["prog"] == 7
        assert out["saved"] == [0, 2, 4] and out["restored"]
        assert out["chord"] == sum(i + 1 for i in range(4))
        assert out["counters_left"] == 0
        assert out["expired"] == "PENDING"
        assert out["cleaned"]
        assert out["chord_parts"] == [
            None,
            None,
            None,
            [["t-a", "SUCCESS", 0], ["t-b", "SUCCESS", 10]],
        ]
        admin = project.run(ADMIN)
        assert admin == {
            "all_listed": True,
            "state": True,
            "name": True,
            "worker": True,
            "id": True,
            "args": True,
            "date": True,
            "detail": True,
            "groups": 200,
        }


CACHE_TRIP = """
from django.core.cache import cache
from app1.tasks import add, fail
ok = add.delay(20, 22)
value = ok.get(timeout=30)
stored = cache.get("celery-task-meta-" + ok.id)
bad = fail.delay("nope")
try:
    bad.get(timeout=30)
    raised = None
except ValueError as exc:
    raised = str(exc)
print(json.dumps({"value": value, "stored": stored, "raised": raised}))
"""


def test_django_cache_results_through_a_worker(tmp_path):
    with django_project(tmp_path, "sqlite", DJ_RESULT_BACKEND="django-cache") as project:
        project.manage("migrate", "--noinput")
        project.manage("createcachetable")
        project.start_django_worker(concurrency=1)
        out = project.run(CACHE_TRIP)
        assert out["value"] == 42 and out["raised"] == "nope"
        assert isinstance(out["stored"], str) and '"status": "SUCCESS"' in out["stored"]
