"""Celery's request-stack API on tasks, and the Context helpers it builds on."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from celeriac.contrib.testing import start_worker
from celeriac.execution.request import Context

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app() -> Celery:
    return Celery("req", broker="memory://", backend="memory://", set_as_current=False)


def test_push_request_is_what_a_bound_task_sees(app: Celery) -> None:
    @app.task(name="req.who", bind=True)
    def who(self: Any) -> tuple[Any, Any]:
        return self.request.id, self.request.retries

    assert who()[0] is None
    who.push_request(id="pushed", retries=3)
    try:
        assert who.run() == ("pushed", 3)  # Celery's recipe: push, then run()
        assert who.request_stack.top is who.request and len(who.request_stack) == 1
    finally:
        who.pop_request()
    assert who()[0] is None and len(who.request_stack) == 0
    assert who.MaxRetriesExceededError.__name__ == "MaxRetriesExceededError"
    assert who.OperationalError.__name__ == "OperationalError"


def test_context_update_clear_and_execution_options() -> None:
    ctx = Context(id="a", retries=2, timelimit=(10.0, 5.0), root_id="r")
    assert (ctx.time_limit, ctx.soft_time_limit) == (10.0, 5.0)
    options = ctx.as_execution_options()
    assert options["task_id"] == "a" and options["retries"] == 2 and options["root_id"] == "r"
    assert options["time_limit"] == 10.0 and options["soft_time_limit"] == 5.0
    ctx.update({"id": "b"}, retries=4)
    assert (ctx.id, ctx.retries) == ("b", 4)
    ctx.clear()
    assert ctx.id is None and ctx.retries == 0 and ctx.kwargs == {}


def test_signature_from_request_resends_the_running_task(app: Celery) -> None:
    seen: list[dict[str, Any]] = []

    @app.task(name="req.again", bind=True)
    def again(self: Any, n: int) -> Any:
        if n == 0:
            return "done"
        sig = self.signature_from_request(args=(n - 1,), task_id=None)
        seen.append(dict(sig.options))
        return sig.apply_async().id

    with start_worker(app, pool="threads", perform_ping_check=False):
        first = again.apply_async((1,), queue="celery")
        second_id = first.get(timeout=10)
        assert app.AsyncResult(second_id).get(timeout=10) == "done"
    assert seen[0]["queue"] == "celery" and seen[0]["root_id"] == first.id


def test_apply_ids_root_and_parent_as_celery(app: Celery) -> None:
    # apply() with no parent is its own root; nested apply() calls chain the ids
    @app.task(bind=True, name="ids.inner")
    def inner(self: Any) -> tuple[str, str | None, str | None]:
        return self.request.id, self.request.parent_id, self.request.root_id

    @app.task(bind=True, name="ids.outer")
    def outer(self: Any) -> tuple[Any, ...]:
        return self.request.id, self.request.parent_id, self.request.root_id, inner.apply().get()

    alone = inner.apply().get()
    assert alone[1] is None and alone[2] == alone[0]
    outer_id, parent, root, (inner_id, inner_parent, inner_root) = outer.apply().get()
    assert parent is None and root == outer_id
    assert inner_parent == outer_id and inner_root == outer_id and inner_id != outer_id
