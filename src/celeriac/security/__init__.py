"""Security: message signing (Celery's ``auth`` and celeriac's keyring), limits, content checks."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["setup_security"]


def setup_security(
    allowed_serializers: Collection[str] | None = None,
    key: str | None = None,
    key_password: bytes | str | None = None,
    cert: str | None = None,
    store: str | None = None,
    digest: str | None = None,
    serializer: str = "json",
    app: Any = None,
) -> None:
    """Celery's ``celery.security.setup_security``: ``app.setup_security()`` on ``app``;
    sign with ``auth`` and accept only signed messages.

    Raises:
        ImproperlyConfigured: no ``app`` given. Celery falls back to the current app; the
            security layer sits below the app layer here, so pass ``app=`` or call
            ``app.setup_security(...)``.
    """
    if app is None:
        raise ImproperlyConfigured(
            "celeriac.security.setup_security needs app=...: call app.setup_security(...) "
            "or pass the app"
        )
    app.setup_security(allowed_serializers, key, key_password, cert, store, digest, serializer)
