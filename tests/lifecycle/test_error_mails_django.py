"""Error e-mails in a Django project: Django's ADMINS, SERVER_EMAIL and EMAIL_* settings apply."""

from __future__ import annotations

import pytest

from helpers.processes import Project

pytestmark = pytest.mark.timeout(60)


DJANGO_SCRIPT = """
import sys

import django
from django.conf import settings

settings.configure(
    ADMINS=[("Django Admin", "admin@django.example")],
    SERVER_EMAIL="django@django.example",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=int(sys.argv[1]),
)
django.setup()

from celeriac import Celery

app = Celery("django_project", broker="memory://dj", backend="memory://dj",
             task_send_error_emails=True, server_email="celeriac@override.example")


@app.task(name="proj.fails")
def fails():
    raise RuntimeError("from a Django project")


from celeriac.contrib.testing import start_worker

with start_worker(app):
    try:
        fails.delay().get(timeout=10)
    except RuntimeError:
        pass
print("done")
"""


def test_django_mail_settings_are_used_when_django_is_configured(smtp, tmp_path):
    pytest.importorskip("django")
    sink, port = smtp
    with Project(tmp_path) as project:
        proc = project.spawn_python(DJANGO_SCRIPT, str(port))
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0 and "done" in output, output
    [message] = sink.wait(1)
    assert "Error: Task proj.fails (" in message["Subject"]
    assert sink.recipients[0] == ["admin@django.example"]
    # a setting the app gives itself wins over Django's
    assert message["From"] == "celeriac@override.example"
