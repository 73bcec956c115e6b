"""Body compression: kombu's method names and MIME types, errors that name the method."""

from __future__ import annotations

import gzip
import zlib

import pytest

from celeriac.exceptions import DecodeError, EncodeError
from celeriac.protocol.compression import available, compress, decompress

DATA = b'[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]' * 20


@pytest.mark.parametrize(
    ("method", "mime"),
    [
        ("zlib", "application/x-gzip"),
        ("gzip", "application/x-gzip"),
        ("bzip2", "application/x-bz2"),
        ("lzma", "application/x-lzma"),
        ("xz", "application/x-lzma"),
        ("application/x-gzip", "application/x-gzip"),
    ],
)
def test_round_trip(method: str, mime: str) -> None:
    got_mime, packed = compress(DATA, method)
    assert got_mime == mime
    assert len(packed) < len(DATA)
    assert decompress(packed, got_mime) == DATA


def test_every_available_method_round_trips() -> None:
    for mime in available():
        assert decompress(compress(DATA, mime)[1], mime) == DATA


def test_gzip_name_means_zlib_stream_like_kombu() -> None:
    _, packed = compress(DATA, "gzip")
    assert zlib.decompress(packed) == DATA


def test_real_gzip_file_is_accepted_too() -> None:
    assert decompress(gzip.compress(DATA), "application/x-gzip") == DATA


def test_unknown_method_names_it() -> None:
    with pytest.raises(EncodeError, match="snappy"):
        compress(DATA, "snappy")
    with pytest.raises(DecodeError, match="application/x-snappy"):
        decompress(DATA, "application/x-snappy")


def test_corrupt_data_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="application/x-bz2"):
        decompress(b"not bz2 at all", "application/x-bz2")


@pytest.mark.interop
@pytest.mark.parametrize("mime", ["application/x-gzip", "application/x-bz2", "application/x-lzma"])
def test_kombu_interop(mime: str) -> None:
    kombu_compression = pytest.importorskip("kombu.compression")
    packed, kombu_mime = kombu_compression.compress(DATA, mime)
    assert kombu_mime == mime
    assert decompress(packed, mime) == DATA
    assert kombu_compression.decompress(compress(DATA, mime)[1], mime) == DATA
