"""celeriac's key-ring signing: a verifying worker runs signed tasks and dead-letters the rest
(unsigned, tampered, expired, unknown or wrong key) with the reason; keys rotate."""

from __future__ import annotations

import base64
import dataclasses
import time
from typing import Any

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured, SecurityError
from celeriac.protocol.message import Message
from celeriac.security import signing
from celeriac.security.keyring import parse_keyring
from celeriac.security.signing import SIGNATURE_HEADER, KeyRingSigner
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory

NEW = "hmac:k2:" + "n" * 32
OLD = "hmac:k1:" + "o" * 32


def _ed25519_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(seed).decode(), base64.b64encode(public).decode()


def _message(**headers: Any) -> Message:
    return Message(body=b"[[1], {}, {}]", headers={"task": "t.echo", "id": "i1", **headers})


def test_sign_verify_and_tamper() -> None:
    signer = KeyRingSigner(parse_keyring(NEW))
    signed = signer.sign(_message())
    assert signer.verify(signed).headers == _message().headers
    with pytest.raises(SecurityError, match="tampered"):
        signer.verify(dataclasses.replace(signed, body=b"[[2], {}, {}]"))
    with pytest.raises(SecurityError, match="tampered"):
        signer.verify(dataclasses.replace(signed, headers={**signed.headers, "task": "t.rm"}))
    with pytest.raises(SecurityError, match="not signed"):
        signer.verify(_message())
    # a control message's signature does not make a task valid
    with pytest.raises(SecurityError, match="tampered"):
        signer.verify(signer.sign(_message(), "control"), "task")


def test_ed25519_public_key_verifies_only() -> None:
    seed, public = _ed25519_pair()
    producer = KeyRingSigner(parse_keyring(f"ed25519:e1:{seed}"))
    verifier = KeyRingSigner(parse_keyring(f"ed25519-public:e1:{public}"))
    signed = producer.sign(_message())
    assert verifier.verify(signed).body == signed.body
    with pytest.raises(SecurityError, match="tampered"):
        verifier.verify(dataclasses.replace(signed, body=b"[[9], {}, {}]"))
    with pytest.raises(SecurityError, match="cannot sign"):
        verifier.sign(_message())


def test_max_age_counts_from_signing_plus_eta() -> None:
    signer = KeyRingSigner(parse_keyring(NEW), max_age=60)
    signed = signer.sign(_message())
    assert signer.verify(signed, now=time.time() + 30)
    with pytest.raises(SecurityError, match="expired"):
        signer.verify(signed, now=time.time() + 120)
    eta = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
    delayed = signer.sign(_message(eta=eta))
    assert signer.verify(delayed, now=time.time() + 3600 + 30)


@pytest.mark.parametrize(
    "spec, error",
    [
        ("hmac:k1:short", "shorter than 16"),
        ("rsa:k1:" + "x" * 32, "unknown key kind"),
        ("hmac:bad/id:" + "x" * 32, "key id"),
        (f"{NEW},{NEW}", "appears twice"),
        ("ed25519:e1:AAAA", "must be 32 bytes"),
    ],
)
def test_bad_key_rings_name_the_problem(spec: str, error: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=error):
        parse_keyring(spec)


def test_env_var_turns_signing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERIAC_SECURITY_KEYS", NEW)
    app = Celery("env", broker="memory://", backend="memory://")
    try:
        assert isinstance(app.signer, KeyRingSigner)
        message, _, _ = app.prepare_task_message("t.echo", (1,))
        assert message.headers[SIGNATURE_HEADER].startswith("v1 hmac-sha256 k2 ")
    finally:
        app.close()


def _raw(app: Celery, *args: object) -> tuple[Message, str]:
    message, queue, _ = app.prepare_task_message("t.echo", args)
    return message, queue


def test_verifying_worker_dead_letters_what_it_cannot_trust(
    make_app: AppFactory, worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(security_keys=f"{NEW},{OLD}", security_max_message_age=600)
    ran: list[str] = []

    @app.task(name="t.echo")
    def echo(text: str) -> str:
        ran.append(text)
        return text

    transport = app.transport
    good = app.send_task("t.echo", ("good",))
    old = make_app(security_keys=OLD).send_task("t.echo", ("old key, during overlap",))
    make_app().send_task("t.echo", ("unsigned",))
    make_app(security_keys="hmac:k2:" + "w" * 32).send_task("t.echo", ("wrong secret",))
    make_app(security_keys="hmac:k9:" + "z" * 32).send_task("t.echo", ("unknown key",))
    message, queue = _raw(app, "tampered")
    transport.publish(
        dataclasses.replace(message, body=message.body.replace(b"tampered", b"evil")), queue
    )
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 3600)
    message, queue = _raw(app, "expired")
    monkeypatch.setattr(signing.time, "time", real_time)
    transport.publish(message, queue)

    worker(app)
    assert good.get(timeout=10) == "good"
    assert old.get(timeout=10) == "old key, during overlap"
    letters = wait_until(
        lambda: (found := transport.dead_letters()) and len(found) >= 5 and found,
        timeout=10,
        message="five dead letters",
    )
    reasons = sorted(letter.reason for letter in letters)
    assert sorted(ran) == ["good", "old key, during overlap"]
    assert len(reasons) == 5, reasons
    joined = "\n".join(reasons)
    assert "signature refused: message is not signed" in joined
    assert "signature refused: bad signature (key 'k2'): the message was tampered with" in joined
    assert "signature refused: signed with unknown key id 'k9'" in joined
    assert "signature refused: message expired: signed 3600s ago" in joined
    assert sum("tampered" in reason for reason in reasons) == 2  # the edit and the wrong secret


def test_rotated_key_refused_after_overlap(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app(security_keys=NEW)  # the old key was dropped
    ran: list[str] = []

    @app.task(name="t.echo")
    def echo(text: str) -> str:
        ran.append(text)
        return text

    make_app(security_keys=OLD).send_task("t.echo", ("old",))
    new = app.send_task("t.echo", ("new",))
    worker(app)
    assert new.get(timeout=10) == "new"
    [letter] = wait_until(app.transport.dead_letters, timeout=10, message="a dead letter")
    assert letter.reason == "signature refused: signed with unknown key id 'k1'"
    assert ran == ["new"]


def test_signed_results(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app(security_keys=NEW, security_sign_results=True)

    @app.task(name="t.echo")
    def echo(text: str) -> str:
        return text

    result = app.send_task("t.echo", ("hello",))
    worker(app)
    assert result.get(timeout=10) == "hello"
    # someone with write access to the backend but not the key forges a result
    forger = make_app()
    from celeriac.protocol.results import build_meta

    forger.backend.store("forged", build_meta("forged", "SUCCESS", "trust me"))
    with pytest.raises(SecurityError, match="not signed"):
        app.AsyncResult("forged").get(timeout=2)


def test_headers_a_broker_adds_in_transit_are_outside_the_signature() -> None:
    signer = KeyRingSigner(parse_keyring(NEW))
    signed = signer.sign(_message())
    in_transit = {
        "redelivered": True,  # kombu's restore of an unacked message
        "x-death": [{"queue": "celery_delayed_0", "reason": "expired", "count": 1}],
        "x-first-death-queue": "celery_delayed_0",
        "x-last-death-reason": "expired",
        "x-delivery-count": 2,  # a quorum queue's redelivery
    }
    restored = dataclasses.replace(signed, headers={**signed.headers, **in_transit})
    assert signer.verify(restored).headers == {**_message().headers, **in_transit}
    with pytest.raises(SecurityError, match="tampered"):  # any other header is signed
        signer.verify(dataclasses.replace(signed, headers={**signed.headers, "retries": 9}))
