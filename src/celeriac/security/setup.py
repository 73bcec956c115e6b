"""Build the process's signer from the settings, and Celery's ``app.setup_security()``."""

from __future__ import annotations

import os
from collections.abc import Collection

from celeriac.config.settings import Settings
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.serializers import accept_set
from celeriac.security.keyring import ENV_VAR, parse_keyring
from celeriac.security.signing import AuthSigner, KeyRingSigner, Signer
from celeriac.security.x509 import (
    AUTH_CONTENT_TYPE,
    Certificate,
    CertStore,
    PrivateKey,
    digest_algorithm,
)

__all__ = ["AUTH", "SignerCache", "configure_auth", "signer_for"]

#: The serializer name that turns on Celery's X.509 signing.
AUTH = "auth"


def _read(path: object, what: str) -> bytes:
    try:
        with open(os.fspath(path), "rb") as handle:  # type: ignore[call-overload]
            data: bytes = handle.read()
    except (OSError, TypeError) as exc:
        raise ImproperlyConfigured(f"{what} {path!r} cannot be read: {exc}") from exc
    return data


def _auth_signer(conf: Settings) -> AuthSigner:
    key = cert = store = None
    if conf.security_key:
        password = conf.security_key_password
        key = PrivateKey(_read(conf.security_key, "security_key"), password)
    if conf.security_certificate:
        cert = Certificate(_read(conf.security_certificate, "security_certificate"))
    if conf.security_cert_store:
        store = CertStore.from_path(str(conf.security_cert_store))
    if key is None and store is None:
        raise ImproperlyConfigured(
            "task_serializer is 'auth' but neither security_key/security_certificate (to "
            "sign) nor security_cert_store (to verify) is set"
        )
    inner = [a for a in conf.accept_content or () if a not in (AUTH, AUTH_CONTENT_TYPE)]
    return AuthSigner(
        key,
        cert,
        store,
        digest_algorithm(conf.security_digest or "sha256"),
        inner or ["json"],
        conf.task_message_max_size or None,
    )


def signer_for(conf: Settings) -> Signer | None:
    """The signer the settings ask for, or None when signing is off.

    ``task_serializer = 'auth'`` selects Celery's X.509 signing; otherwise
    ``security_keys`` (or the ``CELERIAC_SECURITY_KEYS`` environment variable) selects
    celeriac's key ring.

    Raises:
        ImproperlyConfigured: a key, certificate or key ring cannot be loaded.
    """
    if conf.task_serializer == AUTH:
        return _auth_signer(conf)
    spec = conf.security_keys or os.environ.get(ENV_VAR)
    if not spec:
        return None
    max_age = conf.security_max_message_age
    entries = spec if isinstance(spec, str) else [str(entry) for entry in spec]
    return KeyRingSigner(parse_keyring(entries), float(max_age) if max_age else None)


def _signer_settings(conf: Settings) -> tuple[object, ...]:
    """The settings a signer is built from (see :meth:`SignerCache.get`)."""
    return (
        conf.task_serializer,
        conf.security_max_message_age,
        conf.security_key,
        conf.security_certificate,
        conf.security_cert_store,
        conf.security_digest,
    )


class SignerCache:
    """One app's signer, rebuilt when a setting it depends on changes."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._signer: Signer | None = None

    def get(self, conf: Settings) -> Signer | None:
        """The signer for ``conf`` (built on first use and after a relevant change).

        Called on every publish: the settings part of the key is a snapshot, rebuilt only
        when a setting is assigned; the two lists that may be changed in place
        (``security_keys``, ``accept_content``) and the environment variable are read
        each time.
        """
        key = (
            conf.snapshot(_signer_settings),
            str(conf.security_keys),
            os.environ.get(ENV_VAR),
            tuple(conf.accept_content or ()),
        )
        if key != self._key:
            self._signer = signer_for(conf)
            self._key = key
        return self._signer


def configure_auth(
    conf: Settings,
    allowed_serializers: Collection[str] | None = None,
    key: str | None = None,
    key_password: bytes | str | None = None,
    cert: str | None = None,
    store: str | None = None,
    digest: str | None = None,
    serializer: str = "json",
) -> None:
    """Celery's ``setup_security``: sign with ``auth`` and accept only signed messages.

    Unlike Celery it sets ``task_serializer``/``accept_content`` itself rather than
    insisting they were set first; the arguments override the ``security_*`` settings.
    ``serializer`` is the serializer inside the signed wrapper; ``allowed_serializers``
    lists the ones accepted inside it (default: ``serializer``).
    """
    for name, value in (
        ("security_key", key),
        ("security_key_password", key_password),
        ("security_certificate", cert),
        ("security_cert_store", store),
        ("security_digest", digest),
    ):
        if value is not None:
            conf[name] = value
    inner = list(allowed_serializers or [serializer])
    bad = {"application/x-python-serialize", "application/x-yaml"} & accept_set(inner)
    if bad and allowed_serializers is None:
        raise ImproperlyConfigured(f"insecure serializer inside auth: {sorted(bad)}")
    conf.task_serializer = AUTH
    conf.accept_content = [AUTH, *inner]
    if not (conf.security_key and conf.security_certificate and conf.security_cert_store):
        raise ImproperlyConfigured(
            "setup_security needs security_key, security_certificate and security_cert_store"
        )
    _auth_signer(conf)  # load everything now: a bad key fails here, not at the first send
