"""Django's mail settings (``ADMINS``, ``SERVER_EMAIL``, ``EMAIL_*``) for error e-mails."""

from __future__ import annotations

import importlib
from typing import Any

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


def mail_settings() -> dict[str, Any] | None:
    """The project's mail settings by celeriac name, or None when Django is not configured.

    Read by ``celeriac.middleware.error_mails`` for every setting the app's own
    configuration leaves unset, so error e-mails go where Django's ``mail_admins`` goes.
    """
    try:
        settings = importlib.import_module("django.conf").settings
    except ImportError:
        return None
    if not settings.configured:
        return None
    found: dict[str, Any] = {}
    for name, django_name in _NAMES.items():
        value = getattr(settings, django_name, None)
        if value is not None:
            found[name] = value
    return found
