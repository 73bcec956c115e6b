"""Signing covers every message a workflow publishes, not only the client's first one.

A verifying worker (celeriac's key ring, and Celery's X.509 ``auth`` serializer) runs
chords (counted by the backend, and through ``celery.chord_unlock`` and its retries),
chains, task retries, link callbacks, errbacks, group parts and ``Task.replace`` end to
end: each step the worker (or the chord machinery) publishes is signed like a client
publish, or the worker would dead-letter it. Then one message of each path is tampered
with on its way to the broker (after it was signed): the worker dead-letters that part
with its reason and runs none of it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group
from celeriac.protocol.message import Message
from celeriac.results.result import AsyncResult
from celeriac.security import x509
from celeriac.transports.base import DeadLetter
from helpers.pki import make_pki
from helpers.processes import RedisProject, wait_until
from helpers.services import AppFactory, WorkerFactory, redis_keyspace

pytestmark = pytest.mark.timeout(120)

KEYS = "hmac:k2:" + "n" * 32


@dataclass(frozen=True)
class Mode:
    """A signing mode: the app settings, how an attacker alters a signed body, and the
    reason the worker gives when it refuses the result."""

    settings: dict[str, Any]
    alter: Callable[[bytes], bytes]
    refused: str


def _alter_auth(body: bytes) -> bytes:
    """Change the signed content inside an ``auth`` packet, keeping the signature."""
    packet = x509.unpack(body)
    return x509.pack(dataclasses.replace(packet, body=packet.body + b" "))


def _mode(name: str, root: Path) -> Mode:
    if name == "keyring":
        return Mode(
            {"security_keys": KEYS, "security_max_message_age": 600},
            lambda body: body + b" ",
            "signature refused: bad signature (key 'k2'): the message was tampered with",
        )
    pki = make_pki(root / "pki", "canvas")
    settings = {
        "task_serializer": "auth",
        "accept_content": ["auth", "json"],
        "security_key": str(pki.key),
        "security_certificate": str(pki.cert),
        "security_cert_store": str(pki.store),
    }
    return Mode(settings, _alter_auth, "signature refused: bad signature from ")


@pytest.fixture(params=["redis", "amqp"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """The brokers under test (results in Redis)."""
    return str(request.param)


class Tasks:
    """One test's tasks; ``ran`` lists ``(task name, args)`` of every body that ran."""

    def __init__(self, app: Celery) -> None:
        self.lock = threading.Lock()
        self.ran: list[tuple[str, tuple[Any, ...]]] = []
        seen = self._seen

        @app.task(name="t.add")
        def add(x: int, y: int) -> int:
            seen("t.add", x, y)
            return x + y

        @app.task(name="t.mul")
        def mul(x: int, y: int) -> int:
            seen("t.mul", x, y)
            return x * y

        @app.task(name="t.tsum")
        def tsum(values: list[int]) -> int:
            seen("t.tsum", values)
            return sum(values)

        @app.task(name="t.record")
        def record(value: object) -> object:
            seen("t.record", value)
            return value

        @app.task(name="t.fail")
        def fail(text: str) -> None:
            seen("t.fail", text)
            raise ValueError(text)

        @app.task(name="t.flaky", bind=True, max_retries=5)
        def flaky(self: Any, value: int) -> int:
            seen("t.flaky", value, self.request.retries)
            if self.request.retries < 2:
                raise self.retry(countdown=0.1)
            return value

        @app.task(name="t.fan", bind=True)
        def fan(self: Any, n: int) -> None:
            seen("t.fan", n)
            self.replace(group(add.s(i, i) for i in range(n)))

    def _seen(self, name: str, *args: Any) -> None:
        with self.lock:
            self.ran.append((name, args))

    def names(self) -> list[str]:
        """The task names that ran, in order."""
        with self.lock:
            return [name for name, _ in self.ran]


class Tamper:
    """Alters the ``nth`` published message of task ``name`` after it was signed (a
    broker-side attacker), on every publish path of the transport class."""

    def __init__(self, name: str, nth: int = 0) -> None:
        self.name, self.nth = name, nth
        self.alter: Callable[[bytes], bytes] = lambda body: body + b" "
        self.count = 0
        self.done: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, message: Message) -> Message:
        if message.headers.get("task") != self.name:
            return message
        with self.lock:
            index, self.count = self.count, self.count + 1
        if index != self.nth:
            return message
        self.done.append(str(message.headers.get("id")))
        return dataclasses.replace(message, body=self.alter(message.body))

    def install(self, transport: object, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap ``publish``, ``apublish``, ``publish_to_exchange`` and ``publish_many``."""
        cls = type(transport)
        for method in ("publish", "publish_to_exchange"):
            original = getattr(cls, method, None)
            if original is not None:
                monkeypatch.setattr(cls, method, self._sync(original))
        for method in ("apublish", "apublish_to_exchange"):
            original = getattr(cls, method, None)
            if original is not None:
                monkeypatch.setattr(cls, method, self._async(original))
        many = getattr(cls, "publish_many", None)
        if many is not None:
            monkeypatch.setattr(cls, "publish_many", self._many(many))

    def _sync(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def publish(transport: object, message: Message, *args: Any, **kwargs: Any) -> Any:
            return original(transport, self(message), *args, **kwargs)

        return publish

    def _async(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def apublish(transport: object, message: Message, *args: Any, **kwargs: Any) -> Any:
            return await original(transport, self(message), *args, **kwargs)

        return apublish

    def _many(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def publish_many(
            transport: object, items: Sequence[tuple[Message, str, float | None]]
        ) -> Any:
            return original(transport, [(self(m), q, eta) for m, q, eta in items])

        return publish_many


@pytest.fixture(params=["keyring", "auth"])
def mode(request: pytest.FixtureRequest, tmp_path: Path) -> Mode:
    """celeriac's key ring (HMAC) or Celery's ``auth`` serializer (X.509)."""
    return _mode(str(request.param), tmp_path)


@pytest.fixture
def signed(
    make_app: AppFactory, worker: WorkerFactory, mode: Mode
) -> Iterator[tuple[Celery, Tasks]]:
    """A signing app and its tasks; the test starts the verifying worker."""
    app = make_app(**mode.settings)
    yield app, Tasks(app)


def _no_dead_letters(app: Celery) -> None:
    letters = app.transport.dead_letters()
    assert letters == [], [letter.reason for letter in letters]


def _dead_letter(app: Celery, task_id: str) -> DeadLetter:
    letters = wait_until(
        lambda: [letter for letter in app.transport.dead_letters() if letter.task_id == task_id],
        timeout=45,
        message=f"a dead letter for {task_id}",
    )
    [letter] = letters
    return letter


def _chord_counters_off(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backend wait for chords through ``celery.chord_unlock`` (Celery's fallback)."""
    monkeypatch.setattr(type(app.backend), "supports_chord_counters", False)


# -- every path runs signed end to end ----------------------------------------------------


@pytest.mark.parametrize("unlock", [False, True], ids=["counted", "chord_unlock"])
def test_signed_chord_end_to_end(
    signed: tuple[Celery, Tasks],
    worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
    unlock: bool,
) -> None:
    app, tasks = signed
    if unlock:
        _chord_counters_off(app, monkeypatch)
    add, tsum, record = app.tasks["t.add"], app.tasks["t.tsum"], app.tasks["t.record"]
    body = tsum.s().set(link=record.s())
    result = (chord([add.s(i, i) for i in range(4)], body) | add.s(100)).apply_async()
    worker(app)
    assert result.get(timeout=30) == 112
    wait_until(lambda: "t.record" in tasks.names(), message="the body's callback")
    assert tasks.names().count("t.add") == 5
    _no_dead_letters(app)


def test_signed_chain_retry_callbacks_errbacks_and_replace(
    signed: tuple[Celery, Tasks], worker: WorkerFactory
) -> None:
    app, tasks = signed
    t = app.tasks
    steps = chain(t["t.add"].s(1, 1), t["t.mul"].s(10), t["t.flaky"].s()).apply_async()
    linked = t["t.add"].apply_async((2, 3), link=t["t.record"].s())
    failing = t["t.fail"].apply_async(("boom",), link_error=t["t.record"].s())
    fanned = t["t.fan"].delay(3)
    worker(app)
    assert steps.get(timeout=30) == 20
    assert linked.get(timeout=10) == 5
    with pytest.raises(ValueError, match="boom"):
        failing.get(timeout=10)
    assert fanned.get(timeout=30) == [0, 2, 4]
    wait_until(lambda: tasks.names().count("t.record") == 2, message="callback and errback")
    recorded = sorted(str(args[0]) for name, args in tasks.ran if name == "t.record")
    assert recorded == sorted(["5", failing.id])
    assert tasks.names().count("t.flaky") == 3  # two signed retries
    _no_dead_letters(app)


# -- a tampered part is dead-lettered with its reason, and nothing of it runs ------------


def _tampered_run(
    app: Celery,
    mode: Mode,
    worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
    tamper: Tamper,
    send: Callable[[], AsyncResult[Any]],
) -> tuple[AsyncResult[Any], DeadLetter]:
    tamper.alter = mode.alter
    tamper.install(app.transport, monkeypatch)
    result = send()
    worker(app)
    wait_until(lambda: tamper.done, timeout=45, message=f"a {tamper.name} message to tamper")
    letter = _dead_letter(app, tamper.done[0])
    assert letter.reason.startswith(mode.refused), letter.reason
    assert letter.task_name == tamper.name
    return result, letter


@pytest.mark.parametrize("unlock", [False, True], ids=["counted", "chord_unlock"])
@pytest.mark.parametrize("part", ["header", "body", "body_callback"])
def test_tampered_chord_part_is_dead_lettered(
    signed: tuple[Celery, Tasks],
    worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
    mode: Mode,
    part: str,
    unlock: bool,
) -> None:
    app, tasks = signed
    if unlock:
        _chord_counters_off(app, monkeypatch)
    add, tsum, record = app.tasks["t.add"], app.tasks["t.tsum"], app.tasks["t.record"]
    name = {"header": "t.add", "body": "t.tsum", "body_callback": "t.record"}[part]
    tamper = Tamper(name, nth=1 if part == "header" else 0)

    def send() -> AsyncResult[Any]:
        body = tsum.s().set(link=record.s())
        return chord([add.s(i, i) for i in range(3)], body).apply_async()

    result, _ = _tampered_run(app, mode, worker, monkeypatch, tamper, send)
    if part == "header":
        wait_until(lambda: tasks.names().count("t.add") == 2, message="the other parts")
        assert not result.ready()  # the body waits for a part that will never run
        assert "t.tsum" not in tasks.names()
    elif part == "body":
        assert tasks.names().count("t.add") == 3
        assert not result.ready()
        assert "t.tsum" not in tasks.names()
    else:
        assert result.get(timeout=10) == 6
        assert "t.record" not in tasks.names()


@pytest.mark.parametrize("path", ["chain_step", "retry", "callback", "errback", "group_part"])
def test_tampered_worker_publish_is_dead_lettered(
    signed: tuple[Celery, Tasks],
    worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
    mode: Mode,
    path: str,
) -> None:
    app, tasks = signed
    t = app.tasks
    cases: dict[str, tuple[Tamper, Callable[[], AsyncResult[Any]]]] = {
        # the client sends t.add; the worker sends the next step, t.mul
        "chain_step": (
            Tamper("t.mul"),
            lambda: chain(t["t.add"].s(1, 1), t["t.mul"].s(10)).apply_async(),
        ),
        # the client sends the first run; the worker sends the retry
        "retry": (Tamper("t.flaky", nth=1), lambda: t["t.flaky"].delay(7)),
        "callback": (
            Tamper("t.record"),
            lambda: t["t.add"].apply_async((2, 3), link=t["t.record"].s()),
        ),
        "errback": (
            Tamper("t.record"),
            lambda: t["t.fail"].apply_async(("boom",), link_error=t["t.record"].s()),
        ),
        # the worker replaces t.fan by a group: it sends the parts
        "group_part": (Tamper("t.add", nth=1), lambda: t["t.fan"].delay(3)),
    }
    tamper, send = cases[path]
    result, _ = _tampered_run(app, mode, worker, monkeypatch, tamper, send)
    if path == "chain_step":
        assert not result.ready() and "t.mul" not in tasks.names()
    elif path == "retry":
        assert tasks.names() == ["t.flaky"] and not result.ready()
    elif path in ("callback", "errback"):
        assert "t.record" not in tasks.names()
    else:
        wait_until(lambda: tasks.names().count("t.add") == 2, message="the other parts")
        assert not result.ready()


# -- the same from prefork children of a real worker process -------------------------------

PREFORK_TASKS = """
from celeriac import group


@app.task(name="t.add")
def add(x, y):
    return x + y


@app.task(name="t.tsum")
def tsum(values):
    return sum(values)


@app.task(name="t.flaky", bind=True, max_retries=5)
def flaky(self, value):
    if self.request.retries < 2:
        raise self.retry(countdown=0.1)
    return value


@app.task(name="t.fail")
def fail(text):
    raise ValueError(text)


@app.task(name="t.record")
def record(value):
    mark("record.log", str(value))
    return value


@app.task(name="t.fan", bind=True)
def fan(self, n):
    self.replace(group(add.s(i, i) for i in range(n)))
"""


def test_prefork_children_sign_what_they_publish(tmp_path: Path) -> None:
    """Chain steps, retries, chord bodies, errbacks and replaced groups sent from prefork
    children (and the chord machinery in the parent) are signed: nothing is dead-lettered."""
    with redis_keyspace("sc") as space:
        settings = {"security_keys": KEYS, "security_max_message_age": 600}
        project = RedisProject(
            tmp_path, space.url, prefix=space.prefix, queue="signed", settings=settings
        )
        with project:
            project.write_module(PREFORK_TASKS)
            producer = project.producer()
            add, tsum, flaky = (producer.signature(n) for n in ("t.add", "t.tsum", "t.flaky"))
            header = [add.clone((i, i)) for i in range(3)] + [flaky.clone((10,))]
            workflow = chord(header, tsum) | add.clone((100,))
            result = workflow.apply_async()
            failing = producer.send_task(
                "t.fail", ("boom",), link_error=producer.signature("t.record")
            )
            fanned = producer.send_task("t.fan", (3,))
            project.start_worker(pool="prefork", concurrency=2)
            assert result.get(timeout=60) == 116
            assert fanned.get(timeout=30) == [0, 2, 4]
            with pytest.raises(ValueError, match="boom"):
                failing.get(timeout=30)
            wait_until(lambda: project.read_lines("record.log"), timeout=20, message="errback")
            letters = producer.transport.dead_letters()
            assert letters == [], [letter.reason for letter in letters]
