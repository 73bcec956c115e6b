"""Celery's ``celery.security.serialization``: the signed (``auth``) serializer on its own.

celeriac signs messages through the app (``task_serializer = 'auth'`` or
``app.setup_security()``); :class:`SecureSerializer` signs and verifies single payloads
with the same wire format, for code that used Celery's class directly.
"""

from __future__ import annotations

from typing import Any, NoReturn

from celeriac.exceptions import SecurityError
from celeriac.protocol.serializers import dumps, loads
from celeriac.security.utils import get_digest_algorithm, reraise_errors
from celeriac.security.x509 import AuthPacket, Certificate, CertStore, PrivateKey, pack, unpack

__all__ = ["SecureSerializer", "register_auth"]


class SecureSerializer:
    """Sign with ``key`` (named by ``cert``), verify against ``cert_store``, as Celery's."""

    def __init__(
        self,
        key: PrivateKey | None = None,
        cert: Certificate | None = None,
        cert_store: CertStore | None = None,
        digest: str = "sha256",
        serializer: str = "json",
    ) -> None:
        self._key = key
        self._cert = cert
        self._cert_store = cert_store
        self._digest = get_digest_algorithm(digest)
        self._serializer = serializer

    def serialize(self, data: Any) -> bytes:
        """Serialize ``data`` and wrap it in a signed ``auth`` packet."""
        if self._key is None or self._cert is None:
            raise SecurityError("Unable to serialize: no key or certificate to sign with")
        with reraise_errors("Unable to serialize: {0!r}", (Exception,)):
            content_type, content_encoding, body = dumps(data, self._serializer)
            packet = AuthPacket(
                signer=self._cert.id,
                signature=self._key.sign(body, self._digest),
                content_type=content_type,
                content_encoding=content_encoding,
                body=body,
            )
            return pack(packet)

    def deserialize(self, data: bytes | str) -> Any:
        """Check the packet's signature against the store and decode its body."""
        if self._cert_store is None:
            raise SecurityError("Unable to deserialize: no certificate store to verify with")
        with reraise_errors("Unable to deserialize: {0!r}", (Exception,)):
            raw = data.encode() if isinstance(data, str) else data
            packet = unpack(raw)
            self._cert_store[packet.signer].verify(packet.body, packet.signature, self._digest)
        return loads(packet.body, packet.content_type, packet.content_encoding)


def register_auth(*args: Any, **kwargs: Any) -> NoReturn:
    """Celery registers ``auth`` in kombu's global serializer registry; celeriac has none.

    Raises:
        NotImplementedError: always; use ``app.setup_security(...)`` (or set
            ``task_serializer = 'auth'`` and the ``security_*`` settings), or
            :class:`SecureSerializer` for single payloads.
    """
    raise NotImplementedError(
        "celeriac has no global serializer registry: call app.setup_security(...) or set "
        "task_serializer='auth' with the security_* settings; SecureSerializer signs single "
        "payloads"
    )
