"""Signatures as Celery's dicts: partial merge rules, options, links, composition, JSON."""

from __future__ import annotations

import json

import pytest

from celeriac import Celery, chain, chord, chunks, group, maybe_signature, signature, xmap
from celeriac.canvas import xstarmap
from helpers.vectors import load_vector


@pytest.fixture
def app() -> Celery:
    app = Celery("sigs", broker="memory://sigs", backend="memory://sigs")

    @app.task(name="tasks.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="tasks.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(name="tasks.tsum")
    def tsum(values: list[int]) -> int:
        return sum(values)

    return app


def test_partial_args_go_first_and_kwargs_merge(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    sig = add.s(2, z=1)
    clone = sig.clone((1,), {"z": 3, "w": 4})
    assert clone.args == (1, 2)
    assert clone.kwargs == {"z": 3, "w": 4}
    assert sig.args == (2,) and sig.kwargs == {"z": 1}


def test_immutable_ignores_new_args_but_merges_options(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    sig = add.si(2, 2)
    clone = sig.clone((9,), {"x": 1}, queue="q")
    assert clone.args == (2, 2) and clone.kwargs == {}
    assert clone.options["queue"] == "q"
    assert sig.immutable and (~sig if False else True)


def test_set_signature_and_options(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    sig = add.signature((1,), {"y": 2}, countdown=3)
    sig.set(queue="hipri", immutable=True)
    assert sig.options == {"countdown": 3, "queue": "hipri"}
    assert sig.immutable
    assert signature("tasks.add", (1, 2))["task"] == "tasks.add"


def test_link_link_error_on_error(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    sig = add.s(1, 1)
    callback = add.s(10)
    assert sig.link(callback) is callback
    errback = add.si(0, 0)
    assert sig.on_error(errback) is sig
    assert sig.options["link"] == [callback]
    assert sig.options["link_error"] == [errback]


def test_or_composition(app: Celery) -> None:
    add, mul, tsum = (app.tasks[n] for n in ("tasks.add", "tasks.mul", "tasks.tsum"))
    flow = add.s(1, 1) | mul.s(2) | (mul.s(3) | add.s(1))
    assert isinstance(flow, chain)
    assert [t.task for t in flow.tasks] == ["tasks.add", "tasks.mul", "tasks.mul", "tasks.add"]
    upgraded = group(add.s(1, 1), add.s(2, 2)) | tsum.s()
    assert isinstance(upgraded, chord)
    assert upgraded.body.task == "tasks.tsum"


def test_json_round_trip_keeps_type(app: Celery) -> None:
    add, tsum = app.tasks["tasks.add"], app.tasks["tasks.tsum"]
    flows = [
        add.s(1, 2),
        group(add.s(1, 1), add.s(2, 2)),
        chain(add.s(1, 1), add.s(2)),
        chord([add.s(1, 1)], tsum.s()),
        add.chunks([(1, 2), (3, 4)], 1),
        add.map([1, 2]),
        add.starmap([(1, 2)]),
    ]
    for flow in flows:
        back = maybe_signature(json.loads(json.dumps(flow)), app)
        assert type(back) is type(flow)
        assert back == json.loads(json.dumps(flow))


def test_shapes_match_celerys_vectors(app: Celery) -> None:
    shapes = load_vector("23-signature-shapes-and-canvas-messages.json")["signature_shapes"]
    add, mul, tsum = (app.tasks[n] for n in ("tasks.add", "tasks.mul", "tasks.tsum"))
    assert json.loads(json.dumps(add.s(2, 2))) == shapes["signature_plain"]
    assert (
        json.loads(json.dumps(add.si(2, 2).set(queue="q1", priority=3, countdown=5)))
        == (shapes["signature_immutable_with_options"])
    )
    assert json.loads(json.dumps(group(add.s(1, 1), add.s(2, 2)))) == shapes["group"]
    assert json.loads(json.dumps(chain(add.s(1, 1), mul.s(2)))) == shapes["chain"]
    ours = json.loads(json.dumps(chord([add.s(1, 1), add.s(2, 2)], tsum.s())))
    theirs = shapes["chord"]
    assert ours["kwargs"]["body"] == theirs["kwargs"]["body"]
    assert list(ours["kwargs"]["header"]["kwargs"]["tasks"]) == theirs["kwargs"]["header"]
    assert {k: v for k, v in ours.items() if k != "kwargs"} == {
        k: v for k, v in theirs.items() if k != "kwargs"
    }
    # Celery's chord dicts (header as a list or a group) rebuild here.
    rebuilt = maybe_signature(theirs, app)
    assert isinstance(rebuilt, chord) and len(rebuilt.tasks) == 2


def test_freeze_assigns_ids_and_parents(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    flow = chain(add.s(1, 1), add.s(2), add.s(3))
    result = flow.freeze()
    ids = [t.id for t in flow.tasks]
    assert all(ids)
    assert result.id == ids[-1]
    assert result.parent.id == ids[1] and result.parent.parent.id == ids[0]
    g = group(add.s(1, 1), add.s(2, 2))
    gres = g.freeze()
    assert gres.id == g.id and [r.id for r in gres.results] == [t.id for t in g.tasks]


def test_chunks_and_maps(app: Celery) -> None:
    add = app.tasks["tasks.add"]
    parts = add.chunks(zip(range(5), range(5), strict=True), 2)
    assert isinstance(parts, chunks)
    g = parts.group()
    assert [len(t["kwargs"]["it"]) for t in g.tasks] == [2, 2, 1]
    assert all(isinstance(t, xstarmap) for t in g.tasks)
    assert isinstance(add.map([1]), xmap)
    with pytest.raises(ValueError, match="chunk size"):
        chunks(add.s(), [1], 0)


def test_eager_apply_of_every_primitive(app: Celery) -> None:
    add, mul, tsum = (app.tasks[n] for n in ("tasks.add", "tasks.mul", "tasks.tsum"))
    assert (add.s(1, 1) | mul.s(3)).apply().get() == 6
    assert group(add.s(1, 1), add.s(2, 2)).apply().get() == [2, 4]
    assert chord([add.s(i, i) for i in range(4)], tsum.s()).apply().get() == 12
    assert add.starmap([(1, 2), (3, 4)]).apply().get() == [3, 7]
    assert app.tasks["tasks.mul"].map([]).apply().get() == []
    assert add.chunks([(1, 1), (2, 2), (3, 3)], 2).apply().get() == [[2, 4], [6]]
