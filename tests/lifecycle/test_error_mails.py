"""Error e-mails through a real local SMTP server (aiosmtpd): one failure, a storm, the hooks."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from celeriac.exceptions import ImproperlyConfigured
from celeriac.middleware.error_mails import ErrorMail, MailSettings
from helpers.services import free_port

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.parametrize("transport_kind", ["memory", "sqlite"], indirect=True),
]


def mail_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "task_send_error_emails": True,
        "ADMINS": [("Ops", "ops@example.com"), ("Dev", "dev@example.com")],
        "SERVER_EMAIL": "celeriac@example.com",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        **extra,
    }


def test_one_failure_sends_one_mail_with_celerys_content(make_app, worker, smtp):
    sink, port = smtp
    app = make_app(**mail_settings(port))

    @app.task(name="tests.boom")
    def boom(n: int) -> None:
        raise ValueError(f"bad input {n}")

    controller = worker(app)
    result = boom.delay(7)
    with pytest.raises(ValueError):
        result.get(timeout=10)
    [message] = sink.wait(1)
    assert message["Subject"] == (
        f"[{controller.hostname}] Error: Task tests.boom ({result.id}): ValueError('bad input 7')"
    )
    assert message["From"] == "celeriac@example.com"
    assert "ops@example.com" in message["To"] and "dev@example.com" in message["To"]
    assert sorted(sink.recipients[0]) == ["dev@example.com", "ops@example.com"]
    body = message.get_content()
    assert f"Task tests.boom with id {result.id} raised exception:" in body
    assert "Task was called with args: [7] kwargs: {}." in body
    assert "Traceback (most recent call last)" in body and 'raise ValueError(f"bad input' in body
    assert controller.hostname in body
    time.sleep(0.3)
    assert len(sink.messages) == 1


def test_a_storm_of_failures_sends_a_digest_not_hundreds_of_mails(make_app, worker, smtp):
    sink, port = smtp
    app = make_app(**mail_settings(port, task_error_email_interval=1.0))

    @app.task(name="tests.storm")
    def storm(n: int) -> None:
        raise KeyError(n) if n % 2 else ValueError(n)

    controller = worker(app, concurrency=4)
    results = [storm.delay(n) for n in range(200)]
    for result in results:
        with pytest.raises((KeyError, ValueError)):
            result.get(timeout=30)
    controller.stop()  # the digest still held back goes out at shutdown
    messages = list(sink.messages)
    assert 2 <= len(messages) <= 6, [m["Subject"] for m in messages]
    first, digests = messages[0], messages[1:]
    assert "Error: Task tests.storm (" in first["Subject"]
    counted = 0
    for digest in digests:
        assert re.search(r"Error: Task tests.storm: \d+ more failure\(s\) in 1s", digest["Subject"])
        body = digest.get_content()
        counted += int(re.search(r"failed (\d+) more time", body).group(1))  # type: ignore[union-attr]
        assert re.search(r"\d+\s+KeyError", body) and re.search(r"\d+\s+ValueError", body)
        assert "Traceback (most recent call last)" in body
    assert counted + 1 == 200, "every failure is mailed or counted in a digest"


class OnlyKeyErrors(ErrorMail):
    subject = "[{hostname}] {name} failed: {exc!r}"

    def should_send(self, context: dict[str, Any], exc: BaseException) -> bool:
        return isinstance(exc, KeyError)


def test_per_task_switch_error_mail_class_and_eager_calls(make_app, worker, smtp):
    sink, port = smtp
    app = make_app(**mail_settings(port))

    @app.task(name="tests.quiet", send_error_emails=False)
    def quiet() -> None:
        raise ValueError("not mailed")

    @app.task(name="tests.picky", ErrorMail=OnlyKeyErrors)
    def picky(kind: str) -> None:
        raise KeyError(kind) if kind == "key" else ValueError(kind)

    worker(app)
    for result in [quiet.delay(), picky.delay("value"), picky.delay("key")]:
        with pytest.raises((KeyError, ValueError)):
            result.get(timeout=10)
    with pytest.raises(ValueError):
        picky.apply(("value",), throw=True)  # eager: never mailed
    [message] = sink.wait(1)
    assert re.fullmatch(r"\[.+\] tests\.picky failed: KeyError\('key'\)", message["Subject"])
    time.sleep(0.3)
    assert len(sink.messages) == 1


def test_unreachable_smtp_server_logs_one_line_and_tasks_go_on(make_app, worker, caplog):
    app = make_app(**mail_settings(free_port(), EMAIL_TIMEOUT=1))

    @app.task(name="tests.fails")
    def fails() -> None:
        raise ValueError("x")

    @app.task(name="tests.fine")
    def fine() -> str:
        return "ok"

    worker(app)
    with pytest.raises(ValueError):
        fails.delay().get(timeout=10)
    assert fine.delay().get(timeout=10) == "ok"
    deadline = time.monotonic() + 10
    while not any("error e-mail" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_mail_settings_take_the_values_django_allows(make_app):
    # Django's EMAIL_TIMEOUT default is None (no timeout): a long wait, not a stuck thread.
    app = make_app(
        ADMINS=["ops@example.com", ("Dev", "dev@example.com")],
        EMAIL_TIMEOUT=None,
        EMAIL_HOST_USER="",
        EMAIL_PORT=2525,
    )
    mail = MailSettings.from_app(app)
    assert mail.admins == ["ops@example.com", "Dev <dev@example.com>"]
    assert (mail.timeout, mail.user, mail.password, mail.port) == (30.0, None, None, 2525)
    app.conf.admins = 5
    with pytest.raises(ImproperlyConfigured, match="admins must be a list"):
        MailSettings.from_app(app)
