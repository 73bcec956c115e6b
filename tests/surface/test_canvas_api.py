"""Celery's smaller Signature methods on every canvas primitive, and a worker running them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group, signature
from celeriac.canvas import Signature, StampingVisitor
from celeriac.result import AsyncResult
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mem() -> Iterator[Celery]:
    app = Celery("canvas_api", broker="memory://", backend="memory://", set_as_current=False)

    @app.task(name="t.add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    yield app
    app.close()


def test_list_options_ids_replace_and_reprcall(mem: Celery) -> None:
    sig = signature("t.add", (2,), {"y": 3}, app=mem)
    assert sig.append_to_list_option("link", "a") == "a"
    sig.append_to_list_option("link", "a")
    sig.extend_list_option("link", ["b", "c"])
    assert sig.options["link"] == ["a", "b", "c"]
    sig["options"]["queue"] = "q"
    sig.append_to_list_option("queue", "r")
    assert sig.options["queue"] == ["q", "r"]
    sig.parent_id, sig.root_id = "p", "r"
    assert (sig.parent_id, sig.root_id) == ("p", "r") and sig.options["root_id"] == "r"
    fresh = sig.replace(args=(1,), options={})
    assert fresh.args == (1,) and fresh.kwargs == {"y": 3} and fresh.options == {}
    assert sig.args == (2,)  # replace copies
    assert sig.reprcall(1) == "t.add(1, 2, y=3)"
    assert sig.partial((5,)).args == (5, 2)
    handle = sig.AsyncResult("some-id")  # the task's result class (Celery: type.AsyncResult)
    assert isinstance(handle, AsyncResult) and handle.id == "some-id"
    assert isinstance(signature("not.registered", app=mem).AsyncResult("i"), AsyncResult)


def test_flatten_links_types_and_from_dict(mem: Celery) -> None:
    first, second, third = (signature("t.add", (i,), app=mem) for i in range(3))
    second.link(third)
    first.link(second)
    assert [s.args for s in first.flatten_links()] == [(0,), (1,), (2,)]
    assert Signature.TYPES["group"] is group and Signature.TYPES["chord"] is chord

    @Signature.register_type()
    class custom_sig(Signature):
        pass

    try:
        rebuilt = Signature.from_dict(d={"task": "t.add", "subtask_type": "custom_sig"}, app=mem)
        assert type(rebuilt) is custom_sig
    finally:
        Signature.TYPES.pop("custom_sig")
    assert type(group.from_dict(d=dict(group(first, second)), app=mem)) is group


def test_unchain_tasks_moves_links_to_the_steps(mem: Celery) -> None:
    add = mem.tasks["t.add"]
    flow = chain(add.s(1), add.s(2), app=mem)
    flow.link(add.s(10))
    flow.link_error(add.si(0))
    steps = flow.unchain_tasks()
    assert [s.args for s in steps] == [(1,), (2,)]
    assert "link" not in steps[0].options and steps[1].options["link"][0].args == (10,)
    assert all(s.options["link_error"][0].task == "t.add" for s in steps)


class LinkStamper(StampingVisitor):
    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {}

    def on_callback(self, callback: Any, **headers: Any) -> dict[str, Any]:
        return {"kind": "callback"}

    def on_errback(self, errback: Any, **headers: Any) -> dict[str, Any]:
        return {"kind": "errback"}


def test_stamp_links_stamps_only_the_callbacks(mem: Celery) -> None:
    add = mem.tasks["t.add"]
    sig = add.s(1)
    sig.link(add.s())
    sig.link_error(add.si(0))
    sig.stamp_links(LinkStamper(), tenant="t1")
    assert "stamped_headers" not in sig.options
    assert sig.options["link"][0].options["kind"] == "callback"
    assert sig.options["link_error"][0].options["kind"] == "errback"
    assert sig.options["link"][0].options["tenant"] == "t1"


def test_skewed_group_and_unchained_steps_run_on_a_worker(
    app: Celery, worker: WorkerFactory
) -> None:
    @app.task(name="t.when")
    def when() -> float:
        return time.time()

    @app.task(name="t.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    worker(app)
    skewed = group(when.s() for _ in range(3)).skew(start=0, step=1)
    assert [t.options["countdown"] for t in skewed.tasks] == [0, 1, 2]
    started = time.time()
    times = skewed.apply_async().get(timeout=20)
    assert max(times) - started >= 1.5  # the last one waited its two seconds
    assert (
        group(when.s() for _ in range(3)).skew(start=1, stop=2).tasks[2].options["countdown"] == 2
    )
    first, last = chain(mul.s(2, 3), mul.s(4)).unchain_tasks()
    assert first.delay().get(timeout=10) == 6 and last.delay(5).get(timeout=10) == 20
