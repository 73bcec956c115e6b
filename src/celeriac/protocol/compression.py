"""Body compression as kombu does it: method names, MIME types and the codecs behind them."""

from __future__ import annotations

import bz2
import gzip
import importlib
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import DecodeError, EncodeError

__all__ = ["Compressor", "available", "compress", "decompress"]

_GZIP_MAGIC = b"\x1f\x8b"


def _zlib_decompress(data: bytes) -> bytes:
    # kombu's "gzip" is really zlib (a zlib stream, not a gzip file); accept real gzip too,
    # as some non-Python producers write that under the same MIME type.
    if data[:2] == _GZIP_MAGIC:
        return gzip.decompress(data)
    return zlib.decompress(data)


def _zlib_bounded(data: bytes, limit: int) -> bytes:
    # wbits 47: a zlib or a gzip stream, detected from its header
    return _bounded(zlib.decompressobj(47), data, limit)


def _bz2_bounded(data: bytes, limit: int) -> bytes:
    return _bounded(bz2.BZ2Decompressor(), data, limit)


def _lzma_bounded(data: bytes, limit: int) -> bytes:
    return _bounded(lzma.LZMADecompressor(), data, limit)


def _bounded(decompressor: Any, data: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes; a stream that would give more is refused."""
    out = decompressor.decompress(data, max_length=limit + 1)
    if len(out) > limit:
        raise DecodeError(f"decompressed body is larger than the limit ({limit:,} bytes)")
    if not decompressor.eof:
        raise DecodeError("compressed body is truncated")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Compressor:
    """One compression method: its kombu MIME type, its names and its codec.

    ``bounded(data, limit)`` decompresses without ever producing more than ``limit``
    bytes (a decompression bomb is refused before it is inflated); methods without one
    decompress fully, then the size is checked.
    """

    content_type: str
    aliases: tuple[str, ...]
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    bounded: Callable[[bytes, int], bytes] | None = None


def _optional(module_names: tuple[str, ...]) -> Any:
    """Import the first importable module of ``module_names``, or return None."""
    for name in module_names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _build_registry() -> dict[str, Compressor]:
    entries = [
        Compressor(
            "application/x-gzip", ("zlib", "gzip"), zlib.compress, _zlib_decompress, _zlib_bounded
        ),
        Compressor(
            "application/x-bz2",
            ("bzip2", "bzip", "bz2"),
            bz2.compress,
            bz2.decompress,
            _bz2_bounded,
        ),
        Compressor(
            "application/x-lzma", ("lzma", "xz"), lzma.compress, lzma.decompress, _lzma_bounded
        ),
    ]
    brotli = _optional(("brotli", "brotlicffi"))
    if brotli is not None:
        entries.append(
            Compressor("application/x-brotli", ("brotli",), brotli.compress, brotli.decompress)
        )
    # kombu 5.7 uses compression.zstd (3.14+) or backports.zstd; older kombu used zstandard.
    # All of them read and write standard zstd frames.
    zstd = _optional(("compression.zstd", "backports.zstd", "zstandard"))
    if zstd is not None:
        entries.append(
            Compressor("application/zstd", ("zstd", "zstandard"), zstd.compress, zstd.decompress)
        )
    registry: dict[str, Compressor] = {}
    for entry in entries:
        registry[entry.content_type] = entry
        for alias in entry.aliases:
            registry[alias] = entry
    return registry


_REGISTRY = _build_registry()


def available() -> list[str]:
    """Return the MIME types of the compression methods usable in this interpreter."""
    return sorted({entry.content_type for entry in _REGISTRY.values()})


def compress(data: bytes, method: str) -> tuple[str, bytes]:
    """Compress a serialized body.

    Args:
        data: the serialized body.
        method: a method name (``zlib``/``gzip``, ``bzip2``, ``lzma``/``xz``, ``brotli``,
            ``zstd``) or its kombu MIME type.

    Returns:
        ``(mime_type, compressed_bytes)``; the MIME type goes in the ``compression`` header.

    Raises:
        EncodeError: the method is unknown or its library is not installed.
    """
    entry = _REGISTRY.get(method)
    if entry is None:
        raise EncodeError(
            f"unknown compression method {method!r} (available: {', '.join(_known_names())})"
        )
    try:
        return entry.content_type, entry.compress(data)
    except Exception as exc:
        raise EncodeError(f"cannot compress with {method!r}: {exc}") from exc


def decompress(data: bytes, mime: str, limit: int | None = None) -> bytes:
    """Decompress a body whose ``compression`` header is ``mime``.

    Args:
        data: the compressed body.
        mime: the ``compression`` header value (a kombu MIME type; method names are accepted).
        limit: the largest decompressed size accepted (None: no limit).

    Raises:
        DecodeError: the method is unknown or unavailable, the data is corrupt, or it
            decompresses to more than ``limit`` bytes.
    """
    entry = _REGISTRY.get(mime) if isinstance(mime, str) else None
    if entry is None:
        raise DecodeError(
            f"message is compressed with unknown method {mime!r} "
            f"(available: {', '.join(_known_names())})"
        )
    try:
        if limit is not None and entry.bounded is not None:
            return entry.bounded(data, limit)
        out = entry.decompress(data)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"cannot decompress {mime!r} body: {exc}") from exc
    if limit is not None and len(out) > limit:
        raise DecodeError(f"decompressed body is larger than the limit ({limit:,} bytes)")
    return out


def _known_names() -> list[str]:
    return sorted(_REGISTRY)
