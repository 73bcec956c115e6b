"""Celery's ``celery.security.key``: the RSA private key that signs ``auth`` bodies."""

from __future__ import annotations

from celeriac.security.x509 import PrivateKey

__all__ = ["PrivateKey"]
