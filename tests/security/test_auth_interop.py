"""Celery's ``auth`` serializer both ways, with real Celery 5.7 processes on Redis.

Celery signs (``app.setup_security()`` with an X.509 key, certificate and cert store) and
a verifying celeriac worker runs the task; celeriac signs and a real Celery worker runs it.
A tampered copy of Celery's message is dead-lettered with the reason and not run.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.contrib.testing import start_worker
from celeriac.security.x509 import SEPARATOR
from helpers.pki import Pki, make_pki
from helpers.processes import WorkerProcess, wait_until
from helpers.services import RedisKeyspace, redis_keyspace

pytest.importorskip("celery")
pytest.importorskip("cryptography")
pytestmark = [pytest.mark.interop]

CELERY_MODULE = """
import sys
from celery import Celery

app = Celery("tasks", broker={url!r}, backend={url!r})
app.conf.update(
    task_default_queue={queue!r},
    broker_transport_options={{"global_keyprefix": {prefix!r}}},
    result_backend_transport_options={{"global_keyprefix": {prefix!r}}},
    broker_connection_retry_on_startup=True,
    security_key={key!r},
    security_certificate={cert!r},
    security_cert_store={store!r},
    task_serializer="auth",
    accept_content=["auth"],
    result_accept_content=["json"],
)
app.setup_security()


@app.task(name="tasks.add")
def add(x, y):
    return x + y


if __name__ == "__main__":
    print(add.delay(int(sys.argv[1]), int(sys.argv[2])).id)
"""


@dataclass
class Setup:
    root: Path
    space: RedisKeyspace
    queue: str
    pki: Pki

    def celeriac_app(self) -> Celery:
        app = Celery(
            "tasks",
            broker=self.space.url,
            backend=self.space.url,
            task_default_queue=self.queue,
            **self.space.settings,
        )
        app.setup_security(
            key=str(self.pki.key), cert=str(self.pki.cert), store=str(self.pki.store)
        )

        @app.task(name="tasks.add")
        def add(x: int, y: int) -> int:
            return x + y

        return app

    def run_celery(self, *argv: str) -> str:
        out = subprocess.run(
            [sys.executable, "celery_secure.py", *argv],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with redis_keyspace("auth") as space:
        queue = f"auth{uuid.uuid4().hex[:8]}"
        pki = make_pki(tmp_path / "pki", "celeriac-auth-test")
        module = CELERY_MODULE.format(
            url=space.url,
            queue=queue,
            prefix=space.prefix,
            key=str(pki.key),
            cert=str(pki.cert),
            store=str(pki.store),
        )
        (tmp_path / "celery_secure.py").write_text(textwrap.dedent(module))
        yield Setup(tmp_path, space, queue, pki)


def _tampered(raw: bytes) -> bytes:
    """Celery's envelope with the signed body's arguments changed (signature kept)."""
    envelope = json.loads(raw)
    packed = base64.b64decode(base64.b64decode(envelope["body"]))
    signer, signature, ctype, encoding, body = packed.split(SEPARATOR, 4)
    body = body.replace(b"[2, 2]", b"[200, 2]")
    assert b"[200, 2]" in body
    packed = SEPARATOR.join([signer, signature, ctype, encoding, body])
    envelope["body"] = base64.b64encode(base64.b64encode(packed)).decode()
    envelope["headers"]["id"] = str(uuid.uuid4())
    envelope["properties"]["delivery_tag"] = str(uuid.uuid4())
    return json.dumps(envelope).encode()


def test_celery_signed_task_runs_on_verifying_celeriac_worker(setup: Setup) -> None:
    task_id = setup.run_celery("2", "2")
    client = setup.space.client
    [raw] = client.lrange(setup.space.key(setup.queue), 0, -1)
    envelope = json.loads(raw)
    assert envelope["content-type"] == "application/data"
    client.lpush(setup.space.key(setup.queue), _tampered(raw))

    app = setup.celeriac_app()
    try:
        with start_worker(app, pool="solo", queues=[setup.queue]):
            assert app.AsyncResult(task_id).get(timeout=15) == 4
            [letter] = wait_until(
                app.transport.dead_letters, timeout=10, message="the tampered copy"
            )
        assert letter.reason.startswith("signature refused: bad signature from ")
        assert "celeriac-auth-test" in letter.reason
    finally:
        app.close()


def test_celeriac_signed_task_runs_on_celery_worker(setup: Setup) -> None:
    app = setup.celeriac_app()
    result = app.send_task("tasks.add", (20, 22))
    [raw] = setup.space.client.lrange(setup.space.key(setup.queue), 0, -1)
    assert json.loads(raw)["content-type"] == "application/data"
    logfile, output = setup.root / "celery.log", setup.root / "celery.out"
    command = [
        sys.executable, "-m", "celery", "-A", "celery_secure", "worker", "-P", "solo",
        "-Q", setup.queue, "-n", f"auth-{setup.queue}@%h", "--logfile", str(logfile),
        "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=setup.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(proc, logfile, output)
    try:
        assert result.get(timeout=30) == 42, worker.describe()
        worker.wait_for(r"tasks.add\[.*\] succeeded", timeout=10)
    finally:
        worker.kill()
        app.close()


def test_auth_signer_refuses_unsigned_and_unknown_signers(tmp_path: Path) -> None:
    from celeriac.exceptions import SecurityError
    from celeriac.protocol.message import Message
    from celeriac.security.signing import AuthSigner
    from celeriac.security.x509 import Certificate, CertStore, PrivateKey, digest_algorithm

    ours, theirs = make_pki(tmp_path / "ours", "ours"), make_pki(tmp_path / "theirs", "theirs")
    digest = digest_algorithm("sha256")
    store = CertStore.from_path(ours.store)
    signer = AuthSigner(
        PrivateKey(ours.key.read_bytes()), Certificate(ours.cert.read_bytes()), store, digest
    )
    stranger = AuthSigner(
        PrivateKey(theirs.key.read_bytes()), Certificate(theirs.cert.read_bytes()), None, digest
    )
    plain = Message(body=b"[[1, 2], {}, {}]", headers={"task": "tasks.add", "id": "x"})
    for compression in (None, "zlib"):
        message = plain
        if compression:
            from celeriac.protocol.compression import compress

            mime, body = compress(plain.body, compression)
            message = Message(body=body, headers={**plain.headers, "compression": mime})
        opened = signer.verify(signer.sign(message))
        assert opened.body == plain.body and "compression" not in opened.headers
    with pytest.raises(SecurityError, match="not signed"):
        signer.verify(plain)
    with pytest.raises(SecurityError, match="unknown certificate: 'NL celeriac tests theirs"):
        signer.verify(stranger.sign(plain))
