"""A Django project as ``startproject`` writes it starts: Django's defaults never stop it.

Django's own defaults include settings named like Celery 3's (``EMAIL_TIMEOUT = None``,
``ADMINS``, ``SERVER_EMAIL``, ``EMAIL_*``); read without a namespace they reach
celeriac's validation, which must accept every value Django allows for them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from helpers.processes import Project

pytestmark = pytest.mark.timeout(120)

# ``proj/celery.py`` and ``proj/__init__.py`` as the Celery-with-Django tutorial writes them.
CELERY_MODULE = """\
import os

from celeriac import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")
app.config_from_object("django.conf:settings"{namespace})
app.autodiscover_tasks()


@app.task(name="proj.add")
def add(x, y):
    return x + y
"""
INIT_MODULE = """\
from .celery import app as celery_app

__all__ = ("celery_app",)
"""
PRODUCER = """\
import django

django.setup()

from celeriac.middleware.error_mails import MailSettings
from proj import celery_app as app
from proj.celery import add

conf = app.conf
print("conf", conf.task_default_queue, conf.email_timeout, conf.task_time_limit)
mail = MailSettings.from_app(app)  # what a worker reads when a task fails
print("mail", mail.timeout, mail.port, mail.user)
print("result", add.delay(2, 3).get(timeout=30))
"""


@pytest.mark.parametrize("namespace", ["CELERY", None], ids=["namespace", "no-namespace"])
def test_startproject_settings_run_migrate_and_a_task_through_a_worker(tmp_path, namespace):
    pytest.importorskip("django")
    with Project(tmp_path) as project:
        created = subprocess.run(
            [sys.executable, "-m", "django", "startproject", "proj", str(tmp_path)],
            capture_output=True,
            text=True,
            env=project.env(),
            check=False,
        )
        assert created.returncode == 0, created.stderr
        argument = "" if namespace is None else f", namespace={namespace!r}"
        (tmp_path / "proj" / "celery.py").write_text(CELERY_MODULE.format(namespace=argument))
        (tmp_path / "proj" / "__init__.py").write_text(INIT_MODULE)

        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=project.env({"DJANGO_SETTINGS_MODULE": "proj.settings"}),
            timeout=60,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr

        project.start_worker(
            pool="solo", app="proj", env={"DJANGO_SETTINGS_MODULE": "proj.settings"}
        )
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(PRODUCER)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=project.env({"DJANGO_SETTINGS_MODULE": "proj.settings"}),
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    # Without a namespace Django's EMAIL_TIMEOUT = None is read; with one, celeriac's default.
    timeout = "None" if namespace is None else "2.0"
    assert f"conf celery {timeout} None" in lines
    assert f"mail {30.0 if namespace is None else 2.0} 25 None" in lines
    assert "result 5" in lines
