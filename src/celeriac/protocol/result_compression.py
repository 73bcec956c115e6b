"""Compressed stored results (``result_compression``), in Celery 5.7's envelope.

A stored result has no headers to say how it is compressed, so the method travels in
front of the body: ``b"\\x00celery-compressed\\x00" + <kombu MIME type> + b"\\x00" + body``.
No serializer's output starts with a NUL byte, so a result stored uncompressed is never
taken for a compressed one, and a reader decompresses what carries the marker whatever its
own ``result_compression`` says (a Celery worker's compressed results read here too).
"""

from __future__ import annotations

from celeriac.exceptions import DecodeError
from celeriac.protocol.compression import compress, decompress

__all__ = ["MAGIC", "compress_result", "decompress_result"]

#: The marker in front of a compressed result (Celery's ``COMPRESSED_PAYLOAD_MAGIC``).
MAGIC = b"\x00celery-compressed\x00"


def compress_result(payload: bytes, method: str) -> bytes:
    """``payload`` compressed with ``method`` (``gzip``, ``zlib``, ``bzip2``…), enveloped.

    Raises:
        EncodeError: the method is unknown or its library is not installed.
    """
    mime, body = compress(payload, method)
    return MAGIC + mime.encode("utf-8") + b"\x00" + body


def decompress_result(payload: bytes) -> bytes:
    """The serialized result inside ``payload``; a payload without the marker as it is.

    Raises:
        DecodeError: the envelope is broken or names an unavailable method.
    """
    if not payload.startswith(MAGIC):
        return payload
    mime, sep, body = payload[len(MAGIC) :].partition(b"\x00")
    if not sep:
        raise DecodeError("compressed result without its compression type")
    return decompress(body, mime.decode("utf-8", "replace"))
