"""A failed task's FAILURE is stored before its errbacks run (Celery's order), so an errback,
or a client woken by one, reads the failure."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery, chord, states
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("transport_kind", ["memory", "redis"])
def test_errback_sees_the_stored_failure(app: Celery, worker: WorkerFactory) -> None:
    @app.task(name="order.fail")
    def fail() -> None:
        raise KeyError("boom")

    @app.task(name="order.state_of")
    def state_of(task_id: str) -> str:
        return app.AsyncResult(task_id).state

    @app.task(name="order.identity")
    def identity(value: Any) -> Any:
        return value

    worker(app, pool="threads", concurrency=2)
    for _ in range(5):
        seen = state_of.s()
        seen_id = seen.freeze().id
        failed = fail.si().on_error(seen).apply_async()
        assert app.AsyncResult(seen_id).get(timeout=10) == states.FAILURE
        assert failed.state == states.FAILURE
    header_fail = fail.si().on_error(state_of.s())
    body = chord([identity.si(1), header_fail], identity.s()).apply_async()
    with pytest.raises(Exception):
        body.get(timeout=10)
