"""Kinds of tasks on a worker: Task subclasses and hooks, class-based tasks, shared tasks,
tasks sent by name, and the signals sent around each execution."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from celeriac import Task, shared_task, signals
from celeriac.exceptions import NotRegistered

pytestmark = pytest.mark.timeout(30)


class Boom(Exception):
    pass


def test_base_class_hooks_run_on_the_worker(app, worker):
    calls: list[tuple[str, Any]] = []

    class Audited(Task):  # type: ignore[type-arg]
        def before_start(self, task_id, args, kwargs):  # type: ignore[no-untyped-def]
            calls.append(("before_start", list(args)))

        def on_success(self, retval, task_id, args, kwargs):  # type: ignore[no-untyped-def]
            calls.append(("on_success", retval))

        def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
            calls.append(("on_failure", type(exc).__name__))
            assert "Boom" in str(einfo)

        def after_return(self, status, retval, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
            calls.append(("after_return", status))

    @app.task(base=Audited)
    def maybe(fail: bool) -> str:
        if fail:
            raise Boom("no")
        return "yes"

    assert isinstance(maybe, Audited)
    worker(app, pool="solo")
    assert maybe.delay(False).get(timeout=5) == "yes"
    with pytest.raises(Boom):
        maybe.delay(True).get(timeout=5)
    assert calls == [
        ("before_start", [False]),
        ("on_success", "yes"),
        ("after_return", "SUCCESS"),
        ("before_start", [True]),
        ("on_failure", "Boom"),
        ("after_return", "FAILURE"),
    ]


def test_on_retry_hook(app, worker):
    retried: list[str] = []

    class Noted(Task):  # type: ignore[type-arg]
        def on_retry(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
            retried.append(type(exc).__name__)

    @app.task(base=Noted, bind=True)
    def again(self) -> int:
        if not self.request.retries:
            raise self.retry(exc=Boom(), countdown=0)
        return self.request.retries

    worker(app)
    assert again.delay().get(timeout=5) == 1
    assert retried == ["Boom"]


def test_app_task_cls_is_the_default_base(make_app, worker):
    class Marked(Task):  # type: ignore[type-arg]
        marker = "custom"

    app = make_app(task_cls=Marked)

    @app.task
    def which() -> str:
        return "ran"

    assert isinstance(which, Marked)
    worker(app)
    assert which.delay().get(timeout=5) == "ran"


def test_class_based_task_registered_with_register_task(app, worker):
    class Multiply(Task):  # type: ignore[type-arg]
        name = "maths.multiply"

        def run(self, x: int, y: int) -> int:
            return x * y

    task = app.register_task(Multiply())
    assert app.tasks["maths.multiply"] is task
    worker(app)
    assert task.delay(6, 7).get(timeout=5) == 42
    assert app.send_task("maths.multiply", (2, 3)).get(timeout=5) == 6


def test_send_task_by_name_from_a_producer_without_the_task(make_app, worker):
    producer = make_app("producer")
    consumer_app = make_app("consumer")

    @consumer_app.task(name="remote.add")
    def add(x: int, y: int) -> int:
        return x + y

    assert "remote.add" not in producer.tasks
    worker(consumer_app)
    result = producer.send_task("remote.add", args=(2, 5), kwargs={})
    assert result.get(timeout=5) == 7
    assert result.task_name == "remote.add"
    later = producer.send_task("remote.add", (1, 1), countdown=0.2, task_id="by-name-1")
    assert later.id == "by-name-1" and later.get(timeout=5) == 2


def test_unknown_task_fails_and_is_dead_lettered(make_app, worker):
    producer = make_app("producer")
    consumer_app = make_app("consumer")
    worker(consumer_app)
    result = producer.send_task("nobody.has.this")
    with pytest.raises(NotRegistered, match=r"nobody\.has\.this"):
        result.get(timeout=5)
    deadline = time.monotonic() + 5  # the dead letter is written beside the result
    while not any("nobody.has.this" in d.reason for d in consumer_app.transport.dead_letters()):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_dead_letters_are_listed_in_the_order_the_worker_rejected_them(
    make_app, worker, monkeypatch
):
    """The writes may finish in any order (on Redis each goes out on a pooled connection);
    the store lists the letters as the worker rejected and logged them."""
    producer = make_app("producer")
    consumer_app = make_app("consumer")
    transport_class = type(consumer_app.transport)
    dead_letter = transport_class.dead_letter
    delays = iter([0.3, 0.15])  # the first write is the slowest

    async def slow_first(self, delivery, reason):  # type: ignore[no-untyped-def]
        await asyncio.sleep(next(delays, 0.0))
        await dead_letter(self, delivery, reason)

    monkeypatch.setattr(transport_class, "dead_letter", slow_first)
    names = [f"nobody.has.this.{n}" for n in range(3)]
    for name in names:
        producer.send_task(name)
    worker(consumer_app)
    deadline = time.monotonic() + 5
    while len(letters := consumer_app.transport.dead_letters()) < len(names):
        assert time.monotonic() < deadline, letters
        time.sleep(0.01)
    assert [letter.reason for letter in letters] == [
        f"unknown task {name!r} (not registered in this worker)" for name in names
    ]


def test_shared_task_runs_in_two_apps(make_app, worker):
    @shared_task
    def shared_mul(x: int, y: int) -> int:
        return x * y

    first = make_app("first")
    second = make_app("second")
    assert shared_mul.name in first.tasks and shared_mul.name in second.tasks
    worker(first)
    first.set_current()
    assert shared_mul.delay(3, 4).get(timeout=5) == 12
    second.set_current()
    assert shared_mul.app is second
    assert second.send_task(shared_mul.name, (5, 5)).get(timeout=5) == 25


def test_signals_fire_around_a_task(app, worker):
    seen: list[tuple[str, Any]] = []

    @app.task
    def ok(x: int) -> int:
        return x

    @app.task
    def bad() -> None:
        raise Boom("signal me")

    def prerun(sender, task_id, task, args, kwargs, **_):  # type: ignore[no-untyped-def]
        seen.append(("prerun", (task.name, list(args))))

    def postrun(sender, task_id, task, retval, state, **_):  # type: ignore[no-untyped-def]
        seen.append(("postrun", (task.name, state)))

    def success(sender, result, **_):  # type: ignore[no-untyped-def]
        seen.append(("success", (sender.name, result)))

    def failure(sender, task_id, exception, **_):  # type: ignore[no-untyped-def]
        seen.append(("failure", (sender.name, type(exception).__name__)))

    pairs = [
        (signals.task_prerun, prerun),
        (signals.task_postrun, postrun),
        (signals.task_success, success),
        (signals.task_failure, failure),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver)
    try:
        worker(app, pool="solo")
        assert ok.delay(3).get(timeout=5) == 3
        with pytest.raises(Boom):
            bad.delay().get(timeout=5)
    finally:
        for signal, receiver in pairs:
            signal.disconnect(receiver)
    assert seen == [
        ("prerun", (ok.name, [3])),
        ("success", (ok.name, 3)),
        ("postrun", (ok.name, "SUCCESS")),
        ("prerun", (bad.name, [])),
        ("failure", (bad.name, "Boom")),
        ("postrun", (bad.name, "FAILURE")),
    ]


def test_publish_signals(app):
    published: list[str] = []

    @app.task
    def noted() -> None: ...

    def before(sender, headers, **_):  # type: ignore[no-untyped-def]
        published.append(f"before:{sender}:{headers['id']}")

    def after(sender, headers, **_):  # type: ignore[no-untyped-def]
        published.append(f"after:{sender}:{headers['id']}")

    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    try:
        result = noted.delay()
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)
    assert published == [f"before:{noted.name}:{result.id}", f"after:{noted.name}:{result.id}"]


def test_link_error_errback_runs_on_failure(app, worker):
    @app.task
    def fail() -> None:
        raise Boom("x")

    @app.task
    def record(task_id: str) -> str:
        return f"failed:{task_id}"

    worker(app)
    errback_id = "errback-1"
    result = fail.apply_async(link_error=record.s().set(task_id=errback_id))
    with pytest.raises(Boom):
        result.get(timeout=5)
    assert app.AsyncResult(errback_id).get(timeout=5) == f"failed:{result.id}"
