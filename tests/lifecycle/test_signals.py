"""The failure signals sent through the middleware façade: task_rejected, task_unknown,
task_internal_error (and task_failure/task_retry/task_success once more, on every transport)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from celeriac import signals
from celeriac.exceptions import NotRegistered

pytestmark = pytest.mark.timeout(30)


@contextmanager
def received(signal: signals.Signal) -> Iterator[list[dict[str, Any]]]:
    """Collect what ``signal`` sends while the block runs."""
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def receiver(**named: Any) -> None:
        with lock:
            calls.append(named)

    signal.connect(receiver)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_rejected_and_unknown_messages_send_their_signals(make_app, worker):
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    transport = app.transport
    queue = app.conf.task_default_queue
    with received(signals.task_rejected) as rejected, received(signals.task_unknown) as unknown:
        transport.publish_raw(b"\x00\xffnot a message", queue)  # type: ignore[attr-defined]
        pickled, _, _ = app.prepare_task_message(add.name, (1, 2), serializer="pickle")
        transport.publish(pickled, queue)
        message, _, _ = app.prepare_task_message("tests.nobody_has_this", (1,))
        transport.publish(message, queue)
        worker(app)
        assert add.delay(2, 3).get(timeout=10) == 5
        wait_for(lambda: len(rejected) == 2 and len(unknown) == 1)

    by_reason = sorted(rejected, key=lambda call: call["reason"])
    assert by_reason[0]["reason"].startswith("content type not accepted")
    assert by_reason[0]["message"].headers["task"] == add.name
    assert by_reason[0]["exc"] is not None
    assert by_reason[1]["reason"].startswith("undecodable message")
    assert by_reason[1]["message"] is None and by_reason[1]["exc"] is None
    call = unknown[0]
    assert call["name"] == "tests.nobody_has_this"
    assert call["id"] == message.headers["id"]
    assert isinstance(call["exc"], NotRegistered)
    assert call["message"].headers["id"] == call["id"]


def test_worker_errors_send_task_internal_error(make_app, worker):
    app = make_app()

    @app.task(rate_limit="fast")
    def misconfigured() -> int:
        return 1

    with received(signals.task_internal_error) as errors, received(signals.task_failure) as fails:
        worker(app)
        result = misconfigured.delay()
        with pytest.raises(ValueError):
            result.get(timeout=10)
        wait_for(lambda: errors)
    call = errors[0]
    assert call["sender"] is misconfigured
    assert call["task_id"] == result.id
    assert isinstance(call["exception"], ValueError)
    assert "invalid rate limit" in call["traceback"]
    assert call["request"].id == result.id
    assert fails == [], "the body never ran: no task_failure"


def test_failure_retry_and_success_signals(make_app, worker):
    app = make_app()

    @app.task(bind=True, max_retries=1, default_retry_delay=0)
    def flaky(self: Any) -> str:
        if self.request.retries == 0:
            raise self.retry(exc=KeyError("again"))
        raise ValueError("boom")

    @app.task
    def fine() -> str:
        return "ok"

    with (
        received(signals.task_failure) as failures,
        received(signals.task_retry) as retries,
        received(signals.task_success) as successes,
    ):
        worker(app)
        result = flaky.delay()
        with pytest.raises(ValueError, match="boom"):
            result.get(timeout=10)
        assert fine.delay().get(timeout=10) == "ok"
        wait_for(lambda: failures and retries and successes)
    assert failures[0]["task_id"] == result.id and isinstance(failures[0]["exception"], ValueError)
    assert "boom" in failures[0]["traceback"]
    assert retries[0]["request"].id == result.id
    assert [call["result"] for call in successes] == ["ok"]


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_signal(self, sender: object = None, **_: Any) -> None:
        self.seen.append(sender)


def test_bound_methods_of_two_instances_are_two_receivers() -> None:
    # each access makes a new method object: disconnect must still find its own
    signal = signals.Signal("bound_methods")
    a, b = _Recorder(), _Recorder()
    signal.connect(a.on_signal)
    signal.connect(b.on_signal)
    signal.connect(a.on_signal)  # connected once per receiver, as in Celery
    assert signal.disconnect(b.on_signal)
    signal.send(sender="x")
    assert a.seen == ["x"] and b.seen == []
    assert signal.disconnect(a.on_signal) and not signal.disconnect(a.on_signal)
