"""Signing and verifying messages: Celery's ``auth`` body wrapper, or celeriac's keyring header.

Both signers share one small contract (:class:`Signer`): :meth:`~Signer.sign` returns the
message to publish, :meth:`~Signer.verify` returns the message to decode, or raises
:class:`~celeriac.exceptions.SecurityError` with the reason (unsigned, tampered, expired,
unknown signer). ``purpose`` (``task``, ``control``, ``result``) is signed too with the
keyring, so a signed control message cannot be replayed as a task.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from celeriac.exceptions import SecurityError
from celeriac.protocol.compression import compress, decompress
from celeriac.protocol.message import Message
from celeriac.security.keyring import KeyRing
from celeriac.security.x509 import (
    AUTH_CONTENT_ENCODING,
    AUTH_CONTENT_TYPE,
    AuthPacket,
    Certificate,
    CertStore,
    PrivateKey,
    pack,
    unpack,
)

__all__ = ["SIGNATURE_HEADER", "AuthSigner", "KeyRingSigner", "Signer"]

#: The header celeriac's keyring signature travels in.
SIGNATURE_HEADER = "x-celeriac-signature"
#: Seconds a signature's time may lie in the future (clock skew between hosts).
CLOCK_SKEW = 300.0
#: Headers a broker or transport adds to a message in transit, outside the signature:
#: kombu's restore of an unacked message sets ``redelivered`` (our Redis transport does
#: the same, for Celery workers), RabbitMQ adds ``x-death`` when a message is
#: dead-lettered back from a delay or hold queue and ``x-delivery-count`` on a quorum
#: queue's redelivery. None of them changes what runs.
IN_TRANSIT_HEADERS = frozenset({"redelivered", "x-death", "x-delivery-count"})
IN_TRANSIT_PREFIXES = ("x-first-death-", "x-last-death-")
_UNSIGNED = IN_TRANSIT_HEADERS | {SIGNATURE_HEADER}


class Signer(Protocol):
    """Signs outgoing messages and verifies incoming ones."""

    #: Content types accepted inside a verified message (None: the caller's accept list).
    inner_accept: Collection[str] | None

    def sign(self, message: Message, purpose: str = "task") -> Message:
        """Return ``message`` signed."""

    def verify(self, message: Message, purpose: str = "task", now: float | None = None) -> Message:
        """Return the verified message to decode; raise SecurityError saying why not."""


# --------------------------------------------------------------------------- auth (Celery)


@dataclass(slots=True)
class AuthSigner:
    """Celery's ``auth`` serializer: the body is wrapped and RSA-PSS signed (X.509).

    Attributes:
        key: the private key that signs (None: this process only verifies).
        certificate: the certificate whose id names the signer.
        store: the trusted certificates (None: this process only signs).
        digest: the ``cryptography`` hash (``security_digest``).
        inner_accept: serializers accepted inside the wrapper (Celery accepts any).
        max_size: the largest decompressed body accepted (``task_message_max_size``).
    """

    key: PrivateKey | None
    certificate: Certificate | None
    store: CertStore | None
    digest: Any
    inner_accept: Collection[str] | None = ("json",)
    max_size: int | None = None

    def sign(self, message: Message, purpose: str = "task") -> Message:
        """Wrap the (decompressed) body in an ``auth`` packet; compression stays outermost."""
        if self.key is None or self.certificate is None:
            raise SecurityError("cannot sign: security_key or security_certificate is not set")
        method = message.headers.get("compression")
        body = decompress(message.body, method) if method else message.body
        packet = AuthPacket(
            signer=self.certificate.id,
            signature=self.key.sign(body, self.digest),
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            body=body,
        )
        wrapped = pack(packet)
        if method:
            wrapped = compress(wrapped, method)[1]
        return replace(
            message,
            body=wrapped,
            content_type=AUTH_CONTENT_TYPE,
            content_encoding=AUTH_CONTENT_ENCODING,
        )

    def verify(self, message: Message, purpose: str = "task", now: float | None = None) -> Message:
        """Unwrap and check an ``auth`` body; the result carries the inner body, uncompressed."""
        if self.store is None:
            raise SecurityError("cannot verify: security_cert_store is not set")
        if message.content_type != AUTH_CONTENT_TYPE:
            raise SecurityError(
                f"message is not signed (content type {message.content_type!r}, "
                f"expected {AUTH_CONTENT_TYPE!r} from the auth serializer)"
            )
        method = message.headers.get("compression")
        body = decompress(message.body, method, self.max_size) if method else message.body
        packet = unpack(body)
        self.store[packet.signer].verify(packet.body, packet.signature, self.digest)
        headers = {k: v for k, v in message.headers.items() if k != "compression"}
        return replace(
            message,
            body=packet.body,
            content_type=packet.content_type,
            content_encoding=packet.content_encoding,
            headers=headers,
        )


# --------------------------------------------------------------------------- keyring (ours)


def _canonical(
    message: Message, purpose: str, algorithm: str, key_id: str, signed_at: str
) -> bytes:
    headers = {
        k: v
        for k, v in message.headers.items()
        if k not in _UNSIGNED and not k.startswith(IN_TRANSIT_PREFIXES)
    }
    try:
        header_text = json.dumps(
            headers, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
        )
    except (TypeError, ValueError) as exc:
        raise SecurityError(f"message headers cannot be signed: {exc}") from exc
    head = "\n".join(
        [
            "celeriac-signature-v1",
            purpose,
            algorithm,
            key_id,
            signed_at,
            message.content_type,
            message.content_encoding,
            header_text,
            "",
        ]
    )
    return head.encode("utf-8") + message.body


def _eta_allowance(headers: Mapping[str, object], signed_at: float) -> float:
    """Seconds an ETA/countdown keeps a message legitimately waiting after it was signed."""
    eta = headers.get("eta")
    if not isinstance(eta, str):
        return 0.0
    try:
        when = dt.datetime.fromisoformat(eta)
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - signed_at)


@dataclass(slots=True)
class KeyRingSigner:
    """celeriac's signature: one header over the body, every header and the purpose
    (but those a broker adds in transit: :data:`IN_TRANSIT_HEADERS`).

    Attributes:
        ring: the keys (the first one that can sign signs; all verify).
        max_age: seconds a signed message stays valid after it was signed (plus its
            ETA wait); None disables the check.
        inner_accept: None: the caller's ``accept_content`` applies unchanged.
    """

    ring: KeyRing
    max_age: float | None = None
    inner_accept: Collection[str] | None = None

    def sign(self, message: Message, purpose: str = "task") -> Message:
        """Add the signature header (an existing one is replaced)."""
        key = self.ring.signing
        if key is None:
            raise SecurityError("cannot sign: security_keys holds only public keys")
        headers = {k: v for k, v in message.headers.items() if k != SIGNATURE_HEADER}
        unsigned = replace(message, headers=headers)
        signed_at = f"{time.time():.3f}"
        data = _canonical(unsigned, purpose, key.algorithm, key.key_id, signed_at)
        signature = base64.b64encode(key.sign(data)).decode("ascii")
        header = f"v1 {key.algorithm} {key.key_id} {signed_at} {signature}"
        return replace(message, headers={**headers, SIGNATURE_HEADER: header})

    def verify(self, message: Message, purpose: str = "task", now: float | None = None) -> Message:
        """Check the signature header; return the message without it."""
        header = message.headers.get(SIGNATURE_HEADER)
        if header is None:
            raise SecurityError(f"message is not signed (no {SIGNATURE_HEADER} header)")
        parts = header.split(" ") if isinstance(header, str) else []
        if len(parts) != 5 or parts[0] != "v1":
            raise SecurityError(f"malformed {SIGNATURE_HEADER} header")
        _, algorithm, key_id, signed_at, encoded = parts
        key = self.ring.get(key_id)
        if key is None:
            raise SecurityError(f"signed with unknown key id {key_id[:64]!r}")
        if key.algorithm != algorithm:
            raise SecurityError(f"key {key_id!r} is {key.algorithm}, message says {algorithm!r}")
        try:
            signature = base64.b64decode(encoded, validate=True)
            stamp = float(signed_at)
        except (binascii.Error, ValueError) as exc:
            raise SecurityError(f"malformed {SIGNATURE_HEADER} header: {exc}") from exc
        data = _canonical(message, purpose, algorithm, key_id, signed_at)
        if not math.isfinite(stamp) or not key.verify(data, signature):
            raise SecurityError(f"bad signature (key {key_id!r}): the message was tampered with")
        self._check_age(message, stamp, time.time() if now is None else now)
        headers = {k: v for k, v in message.headers.items() if k != SIGNATURE_HEADER}
        return replace(message, headers=headers)

    def _check_age(self, message: Message, stamp: float, now: float) -> None:
        if stamp > now + CLOCK_SKEW:
            raise SecurityError(f"message signed {stamp - now:.0f}s in the future")
        if self.max_age is None:
            return
        age = now - stamp - _eta_allowance(message.headers, stamp)
        if age > self.max_age:
            raise SecurityError(
                f"message expired: signed {now - stamp:.0f}s ago, "
                f"security_max_message_age is {self.max_age:g}s"
            )
