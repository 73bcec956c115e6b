"""Celery's ``celery.security`` module paths: certificates, keys, the signed serializer."""

from __future__ import annotations

from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured, SecurityError
from helpers.pki import Pki, make_pki

pytest.importorskip("cryptography")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", "modpaths")


def test_certificate_accessors_and_store(pki: Pki) -> None:
    from celeriac.security.certificate import Certificate, CertStore, FSCertStore

    cert = Certificate(pki.cert.read_text())
    assert cert.get_id() == f"{cert.get_issuer()} {cert.get_serial_number()}"
    assert "modpaths" in cert.get_issuer() and not cert.has_expired()
    assert cert.get_pubkey().key_size == 2048
    store = CertStore()
    store.add_cert(cert)
    assert [c.id for c in store.itercerts()] == [cert.get_id()]
    with pytest.raises(SecurityError):
        store.add_cert(cert)
    with pytest.raises(SecurityError):
        store["nobody 1"]
    assert FSCertStore(str(pki.store))[cert.get_id()].id == cert.get_id()


def test_secure_serializer_round_trip_and_tamper(pki: Pki) -> None:
    from celeriac.security.certificate import Certificate, FSCertStore
    from celeriac.security.key import PrivateKey
    from celeriac.security.serialization import SecureSerializer

    serializer = SecureSerializer(
        PrivateKey(pki.key.read_bytes()),
        Certificate(pki.cert.read_bytes()),
        FSCertStore(str(pki.store)),
    )
    signed = serializer.serialize({"a": [1, 2]})
    assert serializer.deserialize(signed) == {"a": [1, 2]}
    with pytest.raises(SecurityError):
        serializer.deserialize(signed[:-8] + b"AAAAAAA=")
    with pytest.raises(SecurityError, match="no certificate store"):
        SecureSerializer().deserialize(signed)


def test_interoperates_with_celerys_secure_serializer(pki: Pki) -> None:
    pytest.importorskip("celery")
    from celery.security import certificate as theirs_cert
    from celery.security import key as theirs_key
    from celery.security.serialization import SecureSerializer as Theirs

    from celeriac.security.certificate import Certificate, FSCertStore
    from celeriac.security.key import PrivateKey
    from celeriac.security.serialization import SecureSerializer

    ours = SecureSerializer(
        PrivateKey(pki.key.read_bytes()),
        Certificate(pki.cert.read_bytes()),
        FSCertStore(str(pki.store)),
    )
    theirs = Theirs(
        theirs_key.PrivateKey(pki.key.read_text()),
        theirs_cert.Certificate(pki.cert.read_text()),
        theirs_cert.FSCertStore(str(pki.store)),
    )
    assert theirs.deserialize(ours.serialize({"x": 1})) == {"x": 1}
    assert ours.deserialize(theirs.serialize([1, "two"])) == [1, "two"]


def test_utils_digest_and_reraise() -> None:
    from cryptography.exceptions import InvalidSignature

    from celeriac.security.utils import get_digest_algorithm, reraise_errors

    assert get_digest_algorithm().name == "sha256"
    assert get_digest_algorithm("sha512").name == "sha512"
    with pytest.raises(SecurityError, match="bad: InvalidSignature"):
        with reraise_errors("bad: {0!r}"):
            raise InvalidSignature()
    with pytest.raises(KeyError):  # not listed: passes through
        with reraise_errors(errors=(ValueError,)):
            raise KeyError("x")


def test_register_auth_names_the_alternative() -> None:
    from celeriac.security.serialization import register_auth

    with pytest.raises(NotImplementedError, match="setup_security"):
        register_auth()


def test_setup_security_configures_the_app(pki: Pki) -> None:
    from celeriac.security import setup_security

    app = Celery("modpaths", set_as_current=False)
    setup_security(key=str(pki.key), cert=str(pki.cert), store=str(pki.store), app=app)
    assert app.conf.task_serializer == "auth"
    assert "auth" in app.conf.accept_content
    assert app.signer is not None
    with pytest.raises(ImproperlyConfigured, match=r"app\.setup_security"):
        setup_security(key=str(pki.key), cert=str(pki.cert), store=str(pki.store))
