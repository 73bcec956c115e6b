"""Signed stored results (``security_sign_results``): seal a serialized meta, open it again.

With Celery's ``auth`` signer the stored bytes are an ``auth`` packet, as Celery stores
results when ``result_serializer='auth'``. With the key ring they are a small JSON
wrapper ``{"celeriac_signed_result": 1, "signature", "content_type", "body"}`` (body in
base64); only celeriac clients with the key ring read those.
"""

from __future__ import annotations

import base64
import binascii
import json

from celeriac.exceptions import SecurityError
from celeriac.protocol.message import Message
from celeriac.security.signing import SIGNATURE_HEADER, AuthSigner, Signer
from celeriac.security.x509 import AUTH_CONTENT_ENCODING, AUTH_CONTENT_TYPE

__all__ = ["open_result", "seal_result"]

_MARK = "celeriac_signed_result"


def seal_result(signer: Signer, payload: bytes, content_type: str, encoding: str) -> bytes:
    """The bytes to store for a serialized result meta, signed."""
    signed = signer.sign(Message(payload, content_type, encoding), "result")
    if isinstance(signer, AuthSigner):
        return signed.body
    wrapper = {
        _MARK: 1,
        "signature": signed.headers[SIGNATURE_HEADER],
        "content_type": content_type,
        "content_encoding": encoding,
        "body": base64.b64encode(payload).decode("ascii"),
    }
    return json.dumps(wrapper).encode("ascii")


def open_result(signer: Signer, stored: bytes) -> bytes:
    """The serialized meta inside signed stored bytes.

    Raises:
        SecurityError: the bytes are not signed, tampered with, or signed by an unknown key.
    """
    if isinstance(signer, AuthSigner):
        message = Message(stored, AUTH_CONTENT_TYPE, AUTH_CONTENT_ENCODING)
        return signer.verify(message, "result").body
    try:
        wrapper = json.loads(stored)
        if not isinstance(wrapper, dict) or wrapper.get(_MARK) != 1:
            raise ValueError("no signature wrapper")
        message = Message(
            base64.b64decode(wrapper["body"], validate=True),
            str(wrapper["content_type"]),
            str(wrapper["content_encoding"]),
            {SIGNATURE_HEADER: wrapper["signature"]},
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SecurityError(f"stored result is not signed: {exc}") from exc
    return signer.verify(message, "result").body
