"""celeriac's own signing keys: shared-secret HMAC-SHA256 or Ed25519, with key ids for rotation.

A key ring is written as one string (the ``security_keys`` setting or the
``CELERIAC_SECURITY_KEYS`` environment variable), entries separated by commas or
whitespace::

    hmac:2026-12:<secret>            HMAC-SHA256 with a shared secret (signs and verifies)
    ed25519:2026-12:<base64 seed>    Ed25519 private key, 32 bytes (signs and verifies)
    ed25519-public:2026-06:<base64>  Ed25519 public key (verifies only)

The first entry that can sign signs; every entry verifies. To rotate, put the new key
first and keep the old one after it until no message signed with it can still arrive,
then drop it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import ImproperlyConfigured, SecurityError

__all__ = ["ENV_VAR", "Key", "KeyRing", "parse_keyring"]

#: The environment variable read when the ``security_keys`` setting is unset.
ENV_VAR = "CELERIAC_SECURITY_KEYS"

_KINDS = ("hmac", "ed25519", "ed25519-public")
_KEY_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_MIN_SECRET = 16


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a ring.

    Attributes:
        kind: ``hmac``, ``ed25519`` or ``ed25519-public``.
        key_id: the id written into signatures, so the verifier picks the right key.
        material: the secret (HMAC), the 32-byte seed (Ed25519) or the public key.
    """

    kind: str
    key_id: str
    material: bytes

    @property
    def algorithm(self) -> str:
        """The algorithm name written into signatures."""
        return "hmac-sha256" if self.kind == "hmac" else "ed25519"

    @property
    def can_sign(self) -> bool:
        """Whether this key holds what signing needs (not a public key)."""
        return self.kind != "ed25519-public"

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``."""
        if self.kind == "hmac":
            return hmac.new(self.material, data, hashlib.sha256).digest()
        if self.kind == "ed25519":
            return bytes(_ed25519().Ed25519PrivateKey.from_private_bytes(self.material).sign(data))
        raise SecurityError(f"key {self.key_id!r} is a public key: it cannot sign")

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``."""
        if self.kind == "hmac":
            return hmac.compare_digest(self.sign(data), signature)
        from cryptography.exceptions import InvalidSignature

        module = _ed25519()
        if self.kind == "ed25519":
            public = module.Ed25519PrivateKey.from_private_bytes(self.material).public_key()
        else:
            public = module.Ed25519PublicKey.from_public_bytes(self.material)
        try:
            public.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - the [security] extra is missing
        raise ImproperlyConfigured(
            "Ed25519 keys need the cryptography package: pip install 'celeriac[security]'"
        ) from exc
    return ed25519


class KeyRing:
    """The keys a process signs and verifies with."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self.keys: dict[str, Key] = {}
        for key in keys:
            if key.key_id in self.keys:
                raise ImproperlyConfigured(f"security_keys: key id {key.key_id!r} appears twice")
            self.keys[key.key_id] = key
        if not self.keys:
            raise ImproperlyConfigured("security_keys holds no key")
        self.signing = next((key for key in self.keys.values() if key.can_sign), None)

    def get(self, key_id: str) -> Key | None:
        """The key with that id, or None."""
        return self.keys.get(key_id)


def _b64(text: str, what: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"security_keys: {what} is not base64: {exc}") from exc


def _parse_entry(entry: str) -> Key:
    kind, _, rest = entry.partition(":")
    key_id, _, material = rest.partition(":")
    kind = kind.strip().lower()
    if kind not in _KINDS:
        raise ImproperlyConfigured(
            f"security_keys: unknown key kind {kind!r} in {entry[:40]!r}… "
            f"(use one of {', '.join(_KINDS)}: <kind>:<key id>:<key>)"
        )
    if not _KEY_ID.match(key_id):
        raise ImproperlyConfigured(
            f"security_keys: key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    if kind == "hmac":
        secret = material.encode("utf-8")
        if len(secret) < _MIN_SECRET:
            raise ImproperlyConfigured(
                f"security_keys: the secret of key {key_id!r} is shorter than {_MIN_SECRET} bytes "
                "(make one: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return Key(kind, key_id, secret)
    raw = _b64(material, f"the key of {key_id!r}")
    if len(raw) != 32:
        raise ImproperlyConfigured(
            f"security_keys: the {kind} key {key_id!r} must be 32 bytes, got {len(raw)}"
        )
    return Key(kind, key_id, raw)


def parse_keyring(spec: str | Iterable[str]) -> KeyRing:
    """Parse ``security_keys`` (one string, or a list of entries) into a :class:`KeyRing`.

    Raises:
        ImproperlyConfigured: an entry is malformed (the message names it, not its secret).
    """
    entries = re.split(r"[\s,]+", spec) if isinstance(spec, str) else list(spec)
    return KeyRing(_parse_entry(entry) for entry in entries if entry.strip())
