"""The ``rpc://`` result backend on RabbitMQ: a celeriac client and an in-process worker.

The wire format (Celery's vector 18), the reply queue's declaration (kombu's, so a
Celery client could declare it the same), states, groups, threads, asyncio callers, and
Celery's refusals (chords, saved groups).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import amqp
import pytest

from celeriac import Celery, chord, group
from celeriac.backends.rpc import E_NO_CHORD_SUPPORT, RPCBackend
from celeriac.exceptions import ImproperlyConfigured, TimeoutError
from helpers.services import AppFactory, WorkerFactory, amqp_session_vhost
from helpers.vectors import load_vector

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def transport_kind() -> str:
    """These tests run on RabbitMQ only."""
    return "amqp"


def rpc_app(make_app: AppFactory, **settings: Any) -> Celery:
    app = make_app(**settings)
    app.conf.result_backend = "rpc://"
    assert isinstance(app.backend, RPCBackend)
    return app


def _channel() -> tuple[amqp.Connection, Any]:
    from celeriac.utils.amqp_url import parse_url

    address = parse_url(amqp_session_vhost())
    conn = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.userid,
        password=address.password,
        virtual_host=address.vhost,
    )
    conn.connect()
    return conn, conn.channel()


def test_value_failure_and_states(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="t.fail")
    def fail() -> None:
        raise ValueError("boom")

    worker(app)
    result = add.delay(2, 3)
    assert result.get(timeout=10) == 5
    assert result.state == "SUCCESS" and result.ready()
    failed = fail.delay()
    with pytest.raises(ValueError, match="boom"):
        failed.get(timeout=10)
    assert failed.state == "FAILURE" and "ValueError" in (failed.traceback or "")
    assert add.AsyncResult(str(uuid.uuid4())).state == "PENDING"


def test_progress_is_read_while_the_task_runs(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = rpc_app(make_app)
    release = threading.Event()

    @app.task(name="t.slow", bind=True)
    def slow(self: Any) -> str:
        self.update_state(state="PROGRESS", meta={"step": 1})
        release.wait(10)
        return "done"

    worker(app)
    result = slow.delay()
    deadline = time.monotonic() + 10
    while result.state != "PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert result.info == {"step": 1} and not result.ready()
    seen: list[str] = []
    release.set()
    assert result.get(timeout=10, on_message=lambda meta: seen.append(meta["status"])) == "done"
    assert result.state == "SUCCESS"


def test_other_results_are_buffered_while_waiting(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.double")
    def double(x: int) -> int:
        return 2 * x

    worker(app, concurrency=4)
    results = [double.delay(i) for i in range(40)]
    assert results[-1].get(timeout=10) == 78
    assert [r.get(timeout=10) for r in results] == [2 * i for i in range(40)]


def test_threads_share_one_reply_queue(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.ident")
    def ident(x: int) -> int:
        return x

    worker(app, concurrency=4)
    failures: list[BaseException] = []

    def client(base: int) -> None:
        try:
            for i in range(base, base + 15):
                assert ident.delay(i).get(timeout=10) == i
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(100 * n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures


def test_asyncio_caller(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)

    async def main() -> list[int]:
        results = [add.delay(i, 1) for i in range(5)]
        return list(await asyncio.gather(*(r.aget(timeout=10) for r in results)))

    assert asyncio.run(main()) == [1, 2, 3, 4, 5]


def test_group_results(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.sq")
    def sq(x: int) -> int:
        return x * x

    worker(app)
    assert group(sq.s(i) for i in range(20))().get(timeout=20) == [i * i for i in range(20)]


def test_chords_and_saved_groups_are_refused_as_celery_does(make_app: AppFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.sq")
    def sq(x: int) -> int:
        return x * x

    @app.task(name="t.total")
    def total(xs: list[int]) -> int:
        return sum(xs)

    with pytest.raises(NotImplementedError, match='The "rpc" result backend does not support'):
        chord([sq.s(1), sq.s(2)])(total.s())
    assert E_NO_CHORD_SUPPORT.startswith('The "rpc" result backend does not support chords!')
    with pytest.raises(NotImplementedError, match="save_group is not supported"):
        app.backend.save_group("g", {"result": []})


def test_timeout(make_app: AppFactory) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.never")
    def never() -> None: ...

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        never.delay().get(timeout=0.5)  # no worker
    assert time.monotonic() - started < 3


def test_reply_queue_is_declared_before_the_task_as_celery_declares_it(
    make_app: AppFactory,
) -> None:
    app = rpc_app(make_app)

    @app.task(name="t.noop")
    def noop() -> None: ...

    noop.delay()
    conn, channel = _channel()
    try:
        # kombu's declaration of Celery's RPCBackend.binding: accepted only if equal
        channel.queue_declare(
            app.reply_to,
            durable=True,
            auto_delete=True,
            arguments={"x-expires": 86400 * 1000},
        )
        with pytest.raises(amqp.exceptions.PreconditionFailed):
            channel.queue_declare(app.reply_to, durable=False, auto_delete=True)
    finally:
        conn.close()


def test_reply_is_celerys_message(make_app: AppFactory, worker: WorkerFactory) -> None:
    """The worker's reply has the properties and body keys of Celery 5.7's (vector 18)."""
    vector = load_vector("18-amqp-rpc-results.json")
    expected = next(m for m in vector["messages"] if m["body_decoded"]["status"] == "SUCCESS")
    app = rpc_app(make_app)

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    capture = f"capture.{uuid.uuid4().hex[:8]}"
    conn, channel = _channel()
    try:
        channel.queue_declare(capture, auto_delete=False, arguments={"x-expires": 60000})
        result = add.apply_async((2, 2), reply_to=capture)
        message = None
        deadline = time.monotonic() + 10
        while message is None:
            assert time.monotonic() < deadline
            message = channel.basic_get(capture, no_ack=True)
            time.sleep(0.02)
        assert message.delivery_info["exchange"] == ""
        assert message.delivery_info["routing_key"] == capture
        props = {k: v for k, v in message.properties.items() if k != "application_headers"}
        assert props == {**expected["properties"], "correlation_id": result.id}
        body = json.loads(message.body)
        assert list(body) == list(expected["body_decoded"])
        assert body["status"] == "SUCCESS" and body["result"] == 4
        assert body["task_id"] == result.id
        channel.queue_delete(capture)
    finally:
        conn.close()


def test_result_persistent_sends_delivery_mode_2(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = rpc_app(make_app, result_persistent=True)

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    capture = f"capture.{uuid.uuid4().hex[:8]}"
    conn, channel = _channel()
    try:
        channel.queue_declare(capture, auto_delete=False, arguments={"x-expires": 60000})
        add.apply_async((1, 1), reply_to=capture)
        message = None
        deadline = time.monotonic() + 10
        while message is None:
            assert time.monotonic() < deadline
            message = channel.basic_get(capture, no_ack=True)
            time.sleep(0.02)
        assert message.properties["delivery_mode"] == 2
        channel.queue_delete(capture)
    finally:
        conn.close()


def test_rpc_needs_an_amqp_broker() -> None:
    app = Celery("rpc", broker="redis://localhost/0", backend="rpc://", set_as_current=False)
    try:
        with pytest.raises(ImproperlyConfigured, match="AMQP broker"):
            app.backend.get("x")
    finally:
        app.close()
