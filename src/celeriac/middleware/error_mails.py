"""Error e-mails (``task_send_error_emails``): admins hear of failing tasks, a storm sends a digest.

Celery 3's feature, with its settings (``ADMINS``, ``SERVER_EMAIL``, ``EMAIL_HOST`` …),
its per-task switch (``send_error_emails``) and its hook class (``Task.ErrorMail``). Mails
go out through ``smtplib`` on a thread of their own, never on the event loop or the
task's thread. At most one mail per task name is sent per ``task_error_email_interval``
seconds: the failures in between are counted and sent as one digest when the interval
ends (or when the worker stops). Each worker process sends its own mails.

A framework integration supplies its own mail settings (Django's ``ADMINS``,
``EMAIL_HOST`` …) as a :data:`MailSettingsSource`, registered under the entry-point group
:data:`MAIL_SETTINGS_GROUP` in its package metadata (``celeriac.contrib.django`` does so
in celeriac's ``pyproject.toml``): this module finds it there and never imports an
integration, so a Django project gets its settings without any call of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import ImproperlyConfigured
from celeriac.middleware.base import Middleware
from celeriac.utils.log import safe_repr

if TYPE_CHECKING:
    from email.message import EmailMessage

    from celeriac.execution.applike import AppLike, TaskLike
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Context

__all__ = [
    "MAIL_SETTINGS_GROUP",
    "ErrorMail",
    "ErrorMails",
    "MailSettings",
    "MailSettingsSource",
    "Mailer",
    "installed_mail_settings_sources",
]

logger = logging.getLogger("celery.worker.error_mails")

#: Failures described in full in one digest (the rest are only counted).
DIGEST_DETAILS = 5
#: The entry-point group under which integrations register a :data:`MailSettingsSource`.
MAIL_SETTINGS_GROUP = "celeriac.error_mail_settings"
#: A framework's mail settings by celeriac name (the names in :data:`MAIL_SETTINGS`), or
#: ``None`` when that framework is not in use in this process. Called when a worker
#: builds its mailer; it must not import its framework when the process has not.
MailSettingsSource = Callable[[], Mapping[str, object] | None]
#: The mail settings an app reads, and a :data:`MailSettingsSource` may supply.
MAIL_SETTINGS = (
    "admins",
    "server_email",
    "email_host",
    "email_port",
    "email_host_user",
    "email_host_password",
    "email_use_ssl",
    "email_use_tls",
    "email_timeout",
    "email_charset",
)
_SIGNATURE = "-- \nJust to let you know,\nceleriac at {hostname}."


class ErrorMail:
    """Decides whether a task failure is mailed and what the mail says (Celery 3's hook).

    Subclass it and set ``ErrorMail = MyErrorMail`` on a task (or its base class) to
    filter (:meth:`should_send`) or reword (:attr:`subject`, :attr:`body`) the mails.
    ``context`` holds ``name``, ``id``, ``exc``, ``args``, ``kwargs``, ``traceback``
    and ``hostname``.
    """

    subject = "[{hostname}] Error: Task {name} ({id}): {exc!r}"
    body = (
        "Task {name} with id {id} raised exception:\n{exc!r}\n\n\n"
        "Task was called with args: {args} kwargs: {kwargs}.\n\n"
        "The contents of the full traceback was:\n\n{traceback}\n\n" + _SIGNATURE + "\n"
    )

    def __init__(self, task: TaskLike, **kwargs: object) -> None:
        self.task = task
        for key, value in kwargs.items():
            setattr(self, key, value)

    def should_send(self, context: dict[str, object], exc: BaseException) -> bool:
        """Whether to mail this failure (default: always)."""
        return True

    def format_subject(self, context: dict[str, object]) -> str:
        """The subject line (one line, whatever the exception's repr holds)."""
        return " ".join(self.subject.strip().format(**context).split())

    def format_body(self, context: dict[str, object]) -> str:
        """The mail's text."""
        return self.body.strip().format(**context) + "\n"


@dataclass(slots=True)
class MailSettings:
    """Where and how error mails are sent (Celery's settings, or Django's)."""

    admins: list[str]
    server_email: str = "celery@localhost"
    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = None
    use_ssl: bool = False
    use_tls: bool = False
    timeout: float = 2.0
    charset: str = "utf-8"

    @classmethod
    def from_app(
        cls, app: AppLike, sources: Iterable[MailSettingsSource] | None = None
    ) -> MailSettings:
        """Read the app's settings; the ``sources`` (by default the installed ones, such as
        Django's when Django is configured) fill what the app leaves unset, the first to
        give a setting winning.

        Raises:
            ImproperlyConfigured: ``admins`` is not a list of addresses or (name, address) pairs.
        """
        values = {name: app.conf[name] for name in MAIL_SETTINGS}
        explicit = set(app.conf.changes())
        for source in installed_mail_settings_sources() if sources is None else sources:
            for name, value in (source() or {}).items():
                if name in values and name not in explicit and value is not None:
                    values[name] = value
                    explicit.add(name)
        return cls(
            admins=_addresses(values["admins"]),
            server_email=str(values["server_email"]),
            host=str(values["email_host"]),
            port=_port(values["email_port"]),
            user=_text(values["email_host_user"]),
            password=_text(values["email_host_password"]),
            use_ssl=bool(values["email_use_ssl"]),
            use_tls=bool(values["email_use_tls"]),
            timeout=_timeout(values["email_timeout"]),
            charset=str(values["email_charset"] or "utf-8"),
        )


def installed_mail_settings_sources() -> list[MailSettingsSource]:
    """The sources installed packages register under :data:`MAIL_SETTINGS_GROUP`, by name.

    One that cannot be loaded is logged and left out (the app's own settings still apply).
    """
    sources: list[MailSettingsSource] = []
    for entry in sorted(entry_points(group=MAIL_SETTINGS_GROUP), key=lambda e: e.name):
        try:
            sources.append(entry.load())
        except Exception as exc:
            logger.warning("Cannot load the error mail settings of %s: %r", entry.value, exc)
    return sources


def _text(value: object) -> str | None:
    """A user name or password; unset or empty (Django's default) means none."""
    return str(value) if value else None


def _port(value: object) -> int:
    """The SMTP port (the app's ``email_port`` or Django's ``EMAIL_PORT``).

    Raises:
        ImproperlyConfigured: it is not a number.
    """
    if isinstance(value, int | str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ImproperlyConfigured(f"email_port expects a port number, got {value!r}")


def _timeout(value: object) -> float:
    """Seconds to wait for the SMTP server; Django's ``None`` (no timeout) becomes 30 s.

    Raises:
        ImproperlyConfigured: it is not a number.
    """
    if not value:
        return 30.0  # a long wait rather than a mail thread stuck for ever
    if isinstance(value, int | float | str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ImproperlyConfigured(f"email_timeout expects seconds, got {value!r}")


def _addresses(admins: object) -> list[str]:
    from email.utils import formataddr  # smtplib and email load only where mail is on

    if not admins:
        return []
    if not isinstance(admins, Iterable):
        raise ImproperlyConfigured(
            f"admins must be a list of (name, address) pairs or addresses, got {admins!r}"
        )
    out: list[str] = []
    for item in admins:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list | tuple) and len(item) == 2:
            out.append(formataddr((str(item[0]), str(item[1]))))
        else:
            raise ImproperlyConfigured(
                f"admins must be a list of (name, address) pairs or addresses, got {item!r}"
            )
    return out


@dataclass(slots=True)
class _Window:
    """One task name's mail window: failures held back until ``until``."""

    until: float
    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, object]] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0


class Mailer:
    """Sends error mails on its own thread, at most one per task name per ``interval``.

    :meth:`report` never blocks on SMTP. The first failure of a task name is mailed
    at once and opens a window of ``interval`` seconds; failures inside it are counted
    and go out as one digest when it ends (:meth:`close` sends what is left).
    """

    def __init__(self, settings: MailSettings, interval: float, hostname: str = "") -> None:
        self.settings = settings
        self.interval = max(0.0, interval)
        self.hostname = hostname
        self.sent = 0
        self._cond = threading.Condition()
        self._outbox: list[EmailMessage] = []
        self._windows: dict[str, _Window] = {}
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False

    # -- producing -------------------------------------------------------------------
    def report(self, name: str, subject: str, body: str, context: dict[str, object]) -> None:
        """Mail one failure of task ``name`` now, or fold it into the next digest."""
        now = time.monotonic()
        with self._cond:
            if self._closed:
                return
            window = self._windows.get(name)
            if window is None or (now >= window.until and not window.count):
                self._windows[name] = _Window(until=now + self.interval)
                self._outbox.append(self._message(subject, body))
            else:
                window.count += 1
                window.kinds[type(context["exc"]).__name__] += 1
                stamp = time.time()
                window.first = window.first or stamp
                window.last = stamp
                if len(window.details) < DIGEST_DETAILS:
                    window.details.append(context)
            self._ensure_thread()
            self._cond.notify()

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="celeriac-error-mails", daemon=True
            )
            self._thread.start()

    def _message(self, subject: str, body: str) -> EmailMessage:
        from email.message import EmailMessage
        from email.utils import make_msgid

        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.settings.server_email
        message["To"] = ", ".join(self.settings.admins)
        message["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        message["Message-ID"] = make_msgid()
        message.set_content(body, charset=self.settings.charset)
        return message

    def _digest(self, name: str, window: _Window) -> EmailMessage:
        when = [
            datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in (window.first, window.last)
        ]
        lines = [
            f"Task {name} failed {window.count} more time(s) between {when[0]} and "
            f"{when[1]} UTC (at most one mail per task every {self.interval:g}s).",
            "",
            "By exception:",
            *(f"  {count:6d}  {kind}" for kind, count in window.kinds.most_common()),
            "",
            f"The first {len(window.details)}:",
        ]
        for context in window.details:
            lines += [
                "",
                f"Task {name} with id {context['id']} raised exception:",
                f"{context['exc']!r}",
                f"Task was called with args: {context['args']} kwargs: {context['kwargs']}.",
                "",
                str(context["traceback"]).rstrip(),
            ]
        lines += ["", _SIGNATURE.format(hostname=self.hostname)]
        subject = (
            f"[{self.hostname}] Error: Task {name}: {window.count} more failure(s) "
            f"in {self.interval:g}s"
        )
        return self._message(subject, "\n".join(lines) + "\n")

    def _due(self, now: float, everything: bool = False) -> tuple[list[EmailMessage], float]:
        """Take the outbox and the digests due now; return them and the next due time."""
        messages, self._outbox = self._outbox, []
        next_due = float("inf")
        for name, window in list(self._windows.items()):
            if window.count and (everything or now >= window.until):
                messages.append(self._digest(name, window))
                self._windows[name] = _Window(until=now + self.interval)
            elif window.count:
                next_due = min(next_due, window.until)
            elif now >= window.until:
                del self._windows[name]
        return messages, next_due

    # -- sending ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                messages, next_due = self._due(time.monotonic())
                while not messages and not self._closed:
                    timeout = None if next_due == float("inf") else next_due - time.monotonic()
                    if timeout is None or timeout > 0:
                        self._cond.wait(timeout)
                    messages, next_due = self._due(time.monotonic())
                if not messages and self._closed:
                    return
            self._send(messages)

    def _send(self, messages: list[EmailMessage]) -> None:
        if not messages:
            return
        import smtplib

        settings = self.settings
        try:
            smtp: smtplib.SMTP
            if settings.use_ssl:
                smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout)
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            with smtp:
                if settings.use_tls and not settings.use_ssl:
                    smtp.starttls()
                if settings.user:
                    smtp.login(settings.user, settings.password or "")
                for message in messages:
                    smtp.send_message(message)
                    self.sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            logger.error(
                "Sending %d task error e-mail(s) through %s:%s failed: %r",
                len(messages),
                settings.host,
                settings.port,
                exc,
            )

    def close(self, timeout: float = 10.0) -> None:
        """Send every held-back digest now and stop the thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            thread = self._thread if self._pid == os.getpid() else None
            messages, _ = self._due(time.monotonic(), everything=True)
            self._cond.notify()
        if thread is not None:
            thread.join(timeout)
        self._send(messages)


class ErrorMails(Middleware):
    """Mails the admins about failed tasks when ``task_send_error_emails`` (or the task's
    ``send_error_emails``) is on. Installed on every app; idle until then.

    ``sources`` supply mail settings the app leaves unset (see :meth:`MailSettings.from_app`);
    ``None``, the default, means the installed ones, looked up when the first mailer is made.
    """

    def __init__(self, sources: Sequence[MailSettingsSource] | None = None) -> None:
        self._sources = sources
        self._mailers: dict[int, Mailer] = {}
        self._lock = threading.Lock()
        self._warned = False

    def _enabled(self, task: TaskLike) -> bool:
        value = getattr(task, "send_error_emails", None)
        if value is None:
            value = task.app.conf.task_send_error_emails
        return bool(value)

    def _mailer(self, app: AppLike, hostname: str) -> Mailer | None:
        with self._lock:
            mailer = self._mailers.get(id(app))
            if mailer is None or mailer._closed:
                if self._sources is None:
                    self._sources = installed_mail_settings_sources()
                settings = MailSettings.from_app(app, self._sources)
                if not settings.admins:
                    if not self._warned:
                        self._warned = True
                        logger.warning("task_send_error_emails is on but admins is empty")
                    return None
                interval = float(app.conf.task_error_email_interval)
                mailer = self._mailers[id(app)] = Mailer(settings, interval, hostname)
            return mailer

    def report(
        self,
        task: TaskLike,
        request: Context,
        exc: BaseException,
        traceback: str | None,
    ) -> None:
        """Mail (or hold for the digest) one failure of ``task`` (not for eager calls)."""
        if request.is_eager or not self._enabled(task):
            return
        hostname = request.hostname or ""
        context: dict[str, object] = {
            "name": task.name,
            "id": request.id,
            "exc": exc,
            "args": safe_repr(request.args),
            "kwargs": safe_repr(request.kwargs),
            "traceback": traceback or "",
            "hostname": hostname,
        }
        mail_class = getattr(task, "ErrorMail", None) or ErrorMail
        mail = mail_class(task)
        if not mail.should_send(context, exc):
            return
        mailer = self._mailer(task.app, hostname)
        if mailer is not None:
            mailer.report(
                task.name, mail.format_subject(context), mail.format_body(context), context
            )

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        """Report a FAILURE outcome."""
        if outcome.state == states.FAILURE and outcome.exc is not None:
            self.report(task, request, outcome.exc, outcome.traceback)

    def on_internal_error(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Report a task the worker failed around."""
        self.report(task, request, exc, traceback)

    def on_aborted(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        """Report a task ended by a time limit or lost with its process."""
        self.report(task, request, exc, traceback)

    def on_worker_stop(self, worker: Any) -> None:
        """Send the digests still held back."""
        with self._lock:
            mailers = list(self._mailers.values())
            self._mailers.clear()
        for mailer in mailers:
            mailer.close()
