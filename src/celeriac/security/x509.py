"""Celery's ``auth`` serializer: RSA-PSS signatures with X.509 certificates and a cert store.

The wire format (``celery/security/serialization.py``): the message body is
``base64(b64(signer) SEP b64(signature) SEP content_type SEP content_encoding SEP body)``
with ``SEP = b"\\x00\\x01"``, content type ``application/data``, encoding ``utf-8``.
``signer`` is the certificate's issuer (the attribute values joined by spaces), a space and
its serial number; the signature is RSA-PSS (MGF1, maximum salt) over the inner serialized
body with ``security_digest``. Only the body is signed: protocol 2 headers (the task name,
its ETA) are not covered; docs/security.md says what that means.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import glob
import os
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import ImproperlyConfigured, SecurityError

__all__ = [
    "AUTH_CONTENT_ENCODING",
    "AUTH_CONTENT_TYPE",
    "SEPARATOR",
    "AuthPacket",
    "Certificate",
    "CertStore",
    "PrivateKey",
    "pack",
    "unpack",
]

AUTH_CONTENT_TYPE = "application/data"
AUTH_CONTENT_ENCODING = "utf-8"
SEPARATOR = b"\x00\x01"


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError as exc:  # pragma: no cover - the [security] extra is missing
        raise ImproperlyConfigured(
            "message signing needs the cryptography package: pip install 'celeriac[security]'"
        ) from exc
    return x509, hashes, serialization, padding, rsa


def digest_algorithm(name: str) -> Any:
    """The ``cryptography`` hash for a ``security_digest`` name (``sha256``)."""
    _, hashes, _, _, _ = _crypto()
    algorithm = getattr(hashes, str(name).upper().replace("-", ""), None)
    if not isinstance(algorithm, type):
        raise ImproperlyConfigured(f"unknown security_digest {name!r}")
    return algorithm()


def _pss(digest: Any) -> Any:
    _, _, _, padding, _ = _crypto()
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH)


class PrivateKey:
    """An RSA private key (PEM) that signs bodies as Celery does."""

    def __init__(self, pem: bytes | str, password: bytes | str | None = None) -> None:
        _, _, serialization, _, rsa = _crypto()
        data = pem.encode() if isinstance(pem, str) else pem
        secret = password.encode() if isinstance(password, str) else password
        try:
            key = serialization.load_pem_private_key(data, password=secret)
        except (ValueError, TypeError) as exc:
            raise SecurityError(f"invalid private key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SecurityError("invalid private key: only RSA keys are supported (as in Celery)")
        self._key = key

    def sign(self, data: bytes, digest: Any) -> bytes:
        """RSA-PSS signature of ``data``."""
        return bytes(self._key.sign(data, _pss(digest), digest))


class Certificate:
    """An X.509 certificate with an RSA public key."""

    def __init__(self, pem: bytes | str) -> None:
        x509, _, _, _, rsa = _crypto()
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            self._cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise SecurityError(f"invalid certificate: {exc}") from exc
        if not isinstance(self._cert.public_key(), rsa.RSAPublicKey):
            raise SecurityError("invalid certificate: only RSA certificates are supported")

    @property
    def id(self) -> str:
        """Celery's signer id: the issuer's attribute values joined by spaces, then the serial."""
        issuer = " ".join(str(attribute.value) for attribute in self._cert.issuer)
        return f"{issuer} {self._cert.serial_number}"

    def has_expired(self, now: dt.datetime | None = None) -> bool:
        """Whether the certificate's ``not_valid_after`` has passed."""
        now = now or dt.datetime.now(dt.UTC)
        return bool(now >= self._cert.not_valid_after_utc)

    def verify(self, data: bytes, signature: bytes, digest: Any) -> None:
        """Check an RSA-PSS signature; raise :class:`SecurityError` when it does not match."""
        from cryptography.exceptions import InvalidSignature

        try:
            self._cert.public_key().verify(signature, data, _pss(digest), digest)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise SecurityError(f"bad signature from {self.id!r}") from exc


class CertStore:
    """Trusted certificates by signer id; :meth:`from_path` reads a directory or a glob."""

    def __init__(self, certificates: list[Certificate] | None = None) -> None:
        self._certs: dict[str, Certificate] = {}
        for cert in certificates or []:
            self.add(cert)

    def add(self, cert: Certificate) -> None:
        """Trust ``cert``; a second certificate with the same id is an error."""
        if cert.id in self._certs:
            raise SecurityError(f"duplicate certificate: {cert.id!r}")
        self._certs[cert.id] = cert

    def __getitem__(self, signer: str) -> Certificate:
        try:
            return self._certs[signer]
        except KeyError:
            raise SecurityError(f"unknown certificate: {signer!r}") from None

    def __len__(self) -> int:
        return len(self._certs)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> CertStore:
        """Load every certificate in a directory (or matching a glob); expired ones are refused."""
        pattern = os.fspath(path)
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*")
        store = cls()
        for name in sorted(glob.glob(pattern)):
            with open(name, "rb") as handle:
                cert = Certificate(handle.read())
            if cert.has_expired():
                raise SecurityError(f"expired certificate in the store: {cert.id!r} ({name})")
            store.add(cert)
        if not store:
            raise ImproperlyConfigured(f"security_cert_store {pattern!r} holds no certificate")
        return store


@dataclass(frozen=True, slots=True)
class AuthPacket:
    """The fields of one ``auth`` body."""

    signer: str
    signature: bytes
    content_type: str
    content_encoding: str
    body: bytes


def pack(packet: AuthPacket) -> bytes:
    """Encode an ``auth`` body exactly as Celery's ``SecureSerializer._pack`` does."""
    fields = SEPARATOR.join(
        [
            base64.b64encode(packet.signer.encode("utf-8")),
            base64.b64encode(packet.signature),
            packet.content_type.encode("utf-8"),
            packet.content_encoding.encode("utf-8"),
            packet.body,
        ]
    )
    return base64.b64encode(fields)


def unpack(data: bytes) -> AuthPacket:
    """Decode an ``auth`` body.

    Raises:
        SecurityError: the body is not an ``auth`` packet.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecurityError(f"signed body is not base64: {exc}") from exc
    parts = raw.split(SEPARATOR, 4)
    if len(parts) != 5:
        raise SecurityError(f"signed body has {len(parts)} fields, expected 5")
    try:
        signer = base64.b64decode(parts[0], validate=True).decode("utf-8")
        signature = base64.b64decode(parts[1], validate=True)
        content_type = parts[2].decode("ascii")
        content_encoding = parts[3].decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise SecurityError(f"signed body has a malformed field: {exc}") from exc
    return AuthPacket(signer, signature, content_type, content_encoding, parts[4])
