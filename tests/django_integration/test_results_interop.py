"""Celery with django-celery-results and celeriac share one results table.

A Django project whose database django-celery-results migrated (``cproj``: Celery,
``django_celery_results`` from PyPI) and the same project on celeriac (``proj``:
``celeriac.contrib.django.results``, which adopts the tables with one new migration). A
real Celery worker and a real celeriac worker run the same task names on queues of
their own (one Redis); each side reads what the other wrote. On PostgreSQL and MariaDB.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from django_integration.djproject import django_project
from helpers.services import redis_cleanup, redis_client, redis_url

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.timeout(240)]

pytest.importorskip("celery")
pytest.importorskip("django_celery_results")

CELERY_SETTINGS = """\
from proj.settings import *  # noqa: F403

INSTALLED_APPS = [
    a for a in INSTALLED_APPS  # noqa: F405
    if a not in ("app1", "celeriac.contrib.django.results")
] + ["django_celery_results", "capp"]
"""

CELERY_APP = """\
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cproj.settings")
app = Celery("cproj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""

CELERY_TASKS = """\
from celery import shared_task


@shared_task(name="app1.add")
def add(x, y):
    return x + y


@shared_task(name="app1.fail")
def fail(message):
    raise ValueError(message)
"""

# Run on each side: send one add and one fail to each worker's queue, read all four.
ROUND = """
import sys
from {impl} import current_app as _unused
from {project} import celery_app as app

def read(result):
    try:
        return ["ok", result.get(timeout=30)]
    except ValueError as exc:
        return ["ValueError", str(exc)]

out = {{}}
for queue in {queues!r}:
    ok = app.send_task("app1.add", args=[{x}, 1], queue=queue)
    bad = app.send_task("app1.fail", args=["from {impl} via " + queue], queue=queue)
    out[queue] = [read(ok), read(bad), ok.id, bad.id]
print(json.dumps(out))
"""

READ = """
from {project} import celery_app as app

def read(task_id):
    result = app.AsyncResult(task_id)
    try:
        value = ["ok", result.get(timeout=10)]
    except ValueError as exc:
        value = ["ValueError", str(exc)]
    return value + [result.status, getattr(result, "name", None)]

print(json.dumps([read(task_id) for task_id in {ids!r}]))
"""


@pytest.fixture
def tag():
    tag = uuid.uuid4().hex[:8]
    yield tag
    redis_cleanup(redis_client(), f"dcr{tag}_")


@pytest.mark.parametrize("database", ["postgres", "mysql"])
def test_results_written_by_each_side_are_read_by_the_other(tmp_path, tag, database):
    celery_queue, celeriac_queue = f"dcr-celery-{tag}", f"dcr-celeriac-{tag}"
    with django_project(
        tmp_path,
        database,
        DJ_EXTRA_APPS="celeriac.contrib.django.results",
        DJ_RESULT_BACKEND="django-db",
        DJ_RESULT_EXTENDED="1",
        DJ_KEYPREFIX=f"dcr{tag}_",
    ) as project:
        project.broker_url = redis_url()
        (tmp_path / "cproj").mkdir()
        (tmp_path / "cproj" / "__init__.py").write_text("from .celery import app as celery_app\n")
        (tmp_path / "cproj" / "settings.py").write_text(CELERY_SETTINGS)
        (tmp_path / "cproj" / "celery.py").write_text(CELERY_APP)
        (tmp_path / "capp").mkdir()
        (tmp_path / "capp" / "__init__.py").write_text("")
        (tmp_path / "capp" / "tasks.py").write_text(CELERY_TASKS)
        celery_env = {"DJANGO_SETTINGS_MODULE": "cproj.settings"}

        # django-celery-results makes the tables with its own migrations.
        project.settings.update(celery_env)
        project.manage("migrate", "--noinput")
        log = tmp_path / "celery.log"
        celery = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cproj",
                "worker",
                "-P",
                "solo",
                "-Q",
                celery_queue,
                "-n",
                f"celery-{tag}@%h",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=tmp_path,
            env=project.env(project.django_env()),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        project.others.append(celery)

        # celeriac adopts them: only its own migration is new.
        del project.settings["DJANGO_SETTINGS_MODULE"]
        migrated = project.manage("migrate", "--noinput")
        lines = migrated.splitlines()
        applied = [line for line in lines if "Applying django_celery_results" in line]
        assert applied == ["  Applying django_celery_results.0015_celeriac_chordpart... OK"], (
            migrated
        )
        project.start_django_worker("-Q", celeriac_queue, concurrency=1)

        queues = [celery_queue, celeriac_queue]
        ours = project.run(ROUND.format(impl="celeriac", project="proj", queues=queues, x=10))
        theirs = project.run(
            ROUND.format(impl="celery", project="cproj", queues=queues, x=20), **celery_env
        )
        for side, x in ((ours, 10), (theirs, 20)):
            for queue in queues:
                ok, bad = side[queue][:2]
                assert ok == ["ok", x + 1], (side, log.read_text()[-3000:])
                assert bad[0] == "ValueError" and queue in bad[1]

        # Each side reads the ids the other sent, as stored by either worker.
        ids = [*ours[celery_queue][2:], *ours[celeriac_queue][2:]]
        read_by_celery = project.run(READ.format(project="cproj", ids=ids), **celery_env)
        assert [r[:3] for r in read_by_celery] == [
            ["ok", 11, "SUCCESS"],
            ["ValueError", f"from celeriac via {celery_queue}", "FAILURE"],
            ["ok", 11, "SUCCESS"],
            ["ValueError", f"from celeriac via {celeriac_queue}", "FAILURE"],
        ]
        # (Celery's AsyncResult.name is None with django-celery-results: it reads "name",
        # the table has task_name.)
        ids = [*theirs[celery_queue][2:], *theirs[celeriac_queue][2:]]
        read_by_celeriac = project.run(READ.format(project="proj", ids=ids))
        assert [r[:3] for r in read_by_celeriac] == [
            ["ok", 21, "SUCCESS"],
            ["ValueError", f"from celery via {celery_queue}", "FAILURE"],
            ["ok", 21, "SUCCESS"],
            ["ValueError", f"from celery via {celeriac_queue}", "FAILURE"],
        ]
        assert [r[3] for r in read_by_celeriac] == ["app1.add", "app1.fail"] * 2
