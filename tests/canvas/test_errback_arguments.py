"""How a failed task calls its errbacks when they carry stored arguments (Celery 5.7's
classification), and chains with a one-member group, on a real Redis worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from celeriac import Celery, chain, group
from celeriac.exceptions import Retry

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def transport_kind() -> str:
    """Redis only: the classification does not depend on the transport."""
    return "redis"


class Calls:
    """The errback calls one test's tasks recorded: ``(errback, first argument, label)``."""

    def __init__(self, app: Celery) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, object, object]] = []
        calls = self

        @app.task(name="t.fail")
        def fail() -> None:
            raise ValueError("expected")

        @app.task(name="t.old_style")
        def old_style(request_id: str, label: str) -> None:
            with calls.lock:
                calls.seen.append(("old", request_id, label))

        @app.task(name="t.new_style")
        def new_style(request: Any, exc: BaseException, traceback: str, label: str) -> None:
            with calls.lock:
                calls.seen.append(("new", request.id, label))

        @app.task(name="t.bound", bind=True, max_retries=1)
        def bound(self: Any, *args: object) -> int:
            with calls.lock:
                calls.seen.append(("bound", args[0] if args else None, self.request.retries))
            if not self.request.retries:
                raise self.retry(countdown=0)
            return int(self.request.retries)

        @app.task(name="t.add")
        def add(x: int, y: int) -> int:
            return x + y

        self.fail, self.old_style, self.new_style, self.bound, self.add = (
            fail,
            old_style,
            new_style,
            bound,
            add,
        )

    def wait(self, done: Callable[[list[tuple[str, object, object]]], bool]) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with self.lock:
                if done(list(self.seen)):
                    return True
            time.sleep(0.05)
        return False


@pytest.fixture
def calls(app: Celery) -> Calls:
    return Calls(app)


@pytest.mark.parametrize(
    "stored",
    [(("stored",), {}), ((), {"label": "stored"})],
    ids=["args", "kwargs"],
)
def test_old_style_errback_with_stored_arguments_is_sent_the_task_id(
    app: Celery, calls: Calls, worker: Any, stored: tuple[tuple[object, ...], dict[str, object]]
) -> None:
    """``def on_error(request_id, label)`` with ``label`` stored takes one argument more:
    it is old-style, sent with the failed task's id first."""
    worker(app)
    args, kwargs = stored
    sig = calls.fail.s()
    sig.link_error(calls.old_style.s(*args, **kwargs))
    result = sig.delay()
    with pytest.raises(ValueError):
        result.get(timeout=10)
    assert calls.wait(lambda seen: seen == [("old", result.id, "stored")]), calls.seen


def test_new_style_errback_with_stored_arguments_gets_them_last(
    app: Celery, calls: Calls, worker: Any
) -> None:
    worker(app)
    result = calls.fail.apply_async(link_error=calls.new_style.s("stored"))
    with pytest.raises(ValueError):
        result.get(timeout=10)
    assert calls.wait(lambda seen: seen == [("new", result.id, "stored")]), calls.seen


def test_bound_errback_is_sent_as_a_task_so_it_can_retry(
    app: Celery, calls: Calls, worker: Any
) -> None:
    """A ``bind=True`` errback takes ``*args``, yet is sent (not called in place): its
    ``self.retry()`` works."""
    worker(app)
    result = calls.fail.apply_async(link_error=calls.bound.s())
    with pytest.raises(ValueError):
        result.get(timeout=10)
    expected = [("bound", result.id, 0), ("bound", result.id, 1)]
    assert calls.wait(lambda seen: seen == expected), calls.seen


def test_eager_bound_errback_retrying_leaves_the_failure(app: Celery, calls: Calls) -> None:
    result = calls.fail.apply(link_error=calls.bound.s())
    assert isinstance(result.get(propagate=False), ValueError)
    assert calls.seen and calls.seen[0][:2] == ("bound", result.id)
    assert not isinstance(result.result, Retry)


def test_chain_runs_a_group_of_one_as_its_task(app: Celery, calls: Calls, worker: Any) -> None:
    """``chain(group(t), u)``: the group of one member is that member (not a chord handing
    ``u`` a list)."""
    worker(app)
    flow = chain(group(calls.add.s(0, 0)), calls.add.s(-1))
    assert flow.apply_async().get(timeout=10) == -1
    assert (calls.add.s(1, 1) | group(calls.add.s(2))).apply_async().get(timeout=10) == 4
