"""Django's mail settings (``ADMINS``, ``SERVER_EMAIL``, ``EMAIL_*``) for error e-mails.

:func:`mail_settings` is a ``celeriac.middleware.error_mails.MailSettingsSource``,
registered under the entry-point group ``celeriac.error_mail_settings`` in celeriac's
``pyproject.toml``: the error-mail middleware finds it there, so a Django project needs
no call of its own, and the core never imports this package.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["mail_settings"]

#: celeriac setting -> Django setting
_NAMES = {
    "admins": "ADMINS",
    "server_email": "SERVER_EMAIL",
    "email_host": "EMAIL_HOST",
    "email_port": "EMAIL_PORT",
    "email_host_user": "EMAIL_HOST_USER",
    "email_host_password": "EMAIL_HOST_PASSWORD",
    "email_use_ssl": "EMAIL_USE_SSL",
    "email_use_tls": "EMAIL_USE_TLS",
    "email_timeout": "EMAIL_TIMEOUT",
    "email_charset": "DEFAULT_CHARSET",
}


def mail_settings() -> dict[str, object] | None:
    """The project's mail settings by celeriac name, or None when Django is not configured.

    Read by ``celeriac.middleware.error_mails`` for every setting the app's own
    configuration leaves unset, so error e-mails go where Django's ``mail_admins`` goes.
    A process that has not imported Django is not a Django project: Django is not
    imported for it.
    """
    if "django" not in sys.modules:
        return None
    try:
        settings = importlib.import_module("django.conf").settings
    except ImportError:
        return None
    if not settings.configured:
        return None
    found: dict[str, object] = {}
    for name, django_name in _NAMES.items():
        value = getattr(settings, django_name, None)
        if value is not None:
            found[name] = value
    return found
