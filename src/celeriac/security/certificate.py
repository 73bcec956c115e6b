"""Celery's ``celery.security.certificate``: X.509 certificates and the stores trusting them.

Celery's accessors (``get_id``, ``get_issuer``, ``get_serial_number``, ``get_pubkey``,
``itercerts``, ``add_cert``) over celeriac's :mod:`celeriac.security.x509`, which the
``auth`` serializer uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celeriac.security import x509

__all__ = ["CertStore", "Certificate", "FSCertStore"]


class Certificate(x509.Certificate):
    """An X.509 certificate (PEM) with an RSA public key."""

    def get_pubkey(self) -> Any:
        """The certificate's public key (a ``cryptography`` RSA public key)."""
        return self._cert.public_key()

    def get_serial_number(self) -> int:
        """The certificate's serial number."""
        return int(self._cert.serial_number)

    def get_issuer(self) -> str:
        """The issuer's attribute values joined by spaces."""
        return " ".join(str(attribute.value) for attribute in self._cert.issuer)

    def get_id(self) -> str:
        """Celery's signer id: the issuer and the serial number."""
        return self.id


class CertStore(x509.CertStore):
    """Trusted certificates by id (``store[cert_id]`` raises SecurityError when unknown)."""

    def __init__(self) -> None:
        super().__init__()

    def itercerts(self) -> Iterator[x509.Certificate]:
        """Every trusted certificate."""
        return iter(list(self._certs.values()))

    def add_cert(self, cert: x509.Certificate) -> None:
        """Trust ``cert``; a second certificate with the same id raises SecurityError."""
        self.add(cert)


class FSCertStore(CertStore):
    """The certificates in a directory or matching a glob; an expired one raises SecurityError."""

    def __init__(self, path: str) -> None:
        super().__init__()
        for cert in x509.CertStore.from_path(path)._certs.values():
            self.add_cert(cert)
