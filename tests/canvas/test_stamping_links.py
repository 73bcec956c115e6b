"""Stamping a signature stamps the callbacks linked to it as any task (with the visitor),
and ``task_received`` handlers read the message's links from ``request._payload``."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from celeriac import Celery, signals
from celeriac.canvas import Signature, StampingVisitor
from celeriac.execution.request import Context

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def transport_kind() -> str:
    """Redis only: stamps travel in the message the same way on every transport."""
    return "redis"


class MonitoringId(StampingVisitor):
    def __init__(self, value: str) -> None:
        self.value = value

    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"mtask_id": self.value}


def test_a_link_added_before_stamping_is_stamped_by_the_visitor() -> None:
    sig = Signature("t.first", args=(1,))
    sig.stamp(visitor=MonitoringId("early"))
    sig.link(Signature("t.callback"))
    sig.link_error(Signature("t.errback"))
    sig.stamp(visitor=MonitoringId("late"))
    assert sig.options["mtask_id"] == "late"
    for key in ("link", "link_error"):
        [linked] = sig.options[key]
        assert linked.options["mtask_id"] == "late"
        assert linked.options["stamped_headers"] == ["mtask_id"]


def test_the_worker_receives_stamped_links_in_the_payload(app: Celery, worker: Any) -> None:
    @app.task(name="t.identity")
    def identity(value: object) -> object:
        return value

    received: list[tuple[object, ...]] = []
    lock = threading.Lock()

    def on_received(request: Any = None, **_: Any) -> None:
        args, _kwargs, embed = request._payload
        with lock:
            received.append((request.task, list(args), embed["callbacks"], request.stamps))

    signals.task_received.connect(on_received, weak=False)
    try:
        worker(app)
        sig = identity.si("first")
        sig.link(identity.si("second"))
        sig.stamp(visitor=MonitoringId("1234"))
        assert sig.apply_async().get(timeout=10) == "first"
    finally:
        signals.task_received.disconnect(on_received)
    first = next(entry for entry in received if entry[1] == ["first"])
    [callback] = first[2]
    assert callback["options"]["mtask_id"] == "1234"
    assert callback["options"]["stamped_headers"] == ["mtask_id"]
    assert first[3] == {"mtask_id": "1234"}


def test_the_payload_is_also_under_celerys_private_name() -> None:
    context = Context(args=[1], kwargs={"a": 2}, callbacks=[], errbacks=None)
    embed = {"callbacks": [], "errbacks": None, "chain": None, "chord": None}
    assert context._payload == ([1], {"a": 2}, embed)
    assert context._Request__payload == context._payload
