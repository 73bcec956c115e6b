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


def test_the_django_integration_registers_its_mail_settings_source():
    """The core finds Django's settings through package metadata, never by importing contrib.

    Fails in an environment installed before the entry point existed: reinstall
    (``pip install -e .``) to refresh celeriac's metadata.
    """
    from importlib.metadata import entry_points

    from celeriac.contrib.django.mail import mail_settings
    from celeriac.middleware.error_mails import (
        MAIL_SETTINGS_GROUP,
        installed_mail_settings_sources,
    )

    [entry] = [e for e in entry_points(group=MAIL_SETTINGS_GROUP) if e.name == "django"]
    assert entry.value == "celeriac.contrib.django.mail:mail_settings"
    assert mail_settings in installed_mail_settings_sources()


def test_mail_settings_sources_fill_only_what_the_app_leaves_unset():
    from celeriac import Celery
    from celeriac.middleware.error_mails import MailSettings

    app = Celery("mails", broker="memory://mails-src", server_email="app@example.com")
    try:
        first = {"admins": ["first@example.com"], "server_email": "first@example.com"}
        second = {"admins": ["second@example.com"], "email_port": 2525, "unknown": 1}
        settings = MailSettings.from_app(app, [lambda: first, lambda: None, lambda: second])
    finally:
        app.close()
    assert settings.admins == ["first@example.com"]  # the first source to give it wins
    assert settings.server_email == "app@example.com"  # the app's own setting wins
    assert settings.port == 2525
    assert settings.host == "localhost"  # nobody gave it: the default


def test_without_django_imported_the_django_source_gives_nothing():
    """A process that has not imported Django is not a Django project (and Django stays
    unimported)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from celeriac.contrib.django.mail import mail_settings\n"
        "assert mail_settings() is None\n"
        "assert 'django' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
