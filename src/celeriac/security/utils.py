"""Celery's ``celery.security.utils``: the digest by name and crypto errors as SecurityError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celeriac.exceptions import SecurityError
from celeriac.security.x509 import digest_algorithm

__all__ = ["get_digest_algorithm", "reraise_errors"]


def get_digest_algorithm(digest: str = "sha256") -> Any:
    """The ``cryptography`` hash object for a digest name (``'sha256'`` → ``hashes.SHA256()``)."""
    return digest_algorithm(digest)


@contextmanager
def reraise_errors(
    msg: str = "{0!r}", errors: tuple[type[BaseException], ...] | None = None
) -> Iterator[None]:
    """Re-raise ``errors`` (default: ``cryptography``'s and ``ValueError``) as
    :exc:`~celeriac.exceptions.SecurityError` with ``msg.format(exc)``, as Celery does."""
    if errors is None:
        from cryptography.exceptions import InvalidKey, InvalidSignature, UnsupportedAlgorithm

        errors = (InvalidSignature, InvalidKey, UnsupportedAlgorithm, ValueError)
    try:
        yield
    except SecurityError:
        raise
    except errors as exc:
        raise SecurityError(msg.format(exc)) from exc
