"""Canvas nesting as Celery shapes it, with a real worker: groups in groups and in chord
headers (flattened), chords in chord headers (their body is one part), chains ending in a
group inside a header, ``group.skew`` and assignable ``Signature.args``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group, signature
from celeriac.canvas.chord import chord_size
from celeriac.results.result import GroupResult
from celeriac.signals import before_task_publish
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["memory", "redis"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """Chord counters on the memory and Redis backends."""
    return str(request.param)


def _tasks(app: Celery) -> dict[str, Any]:
    @app.task(name="n.identity")
    def identity(value: Any) -> Any:
        return value

    @app.task(name="n.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="n.tsum")
    def tsum(values: list[int]) -> int:
        return sum(values)

    @app.task(name="n.stamp_time")
    def stamp_time(index: int) -> float:
        return time.time()

    return {"identity": identity, "add": add, "tsum": tsum, "stamp_time": stamp_time}


def test_group_in_group_is_flat(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    result = group(t["add"].si(1, 1), group(t["add"].si(2, 2), t["add"].si(3, 3))).apply_async()
    assert isinstance(result, GroupResult)
    assert len(result.results) == 3
    assert result.get(timeout=30) == [2, 4, 6]


def test_group_inside_chord_header(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    identity = t["identity"]
    only_group = chord((group(identity.s(42), identity.s(42)),), identity.s())
    assert only_group.delay().get(timeout=30) == [42, 42]
    mixed = chord([group(identity.si(1), identity.si(2)), identity.si(3)], t["tsum"].s())
    assert mixed.delay().get(timeout=30) == 6
    big = chord((group((identity.si(1337),) * 12),), identity.s())
    assert group(big).delay().get(timeout=30) == [[1337] * 12]


def test_chord_inside_chord_header(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    identity = t["identity"]
    inner = chord((identity.si(1337),) * 5, identity.si(31337))
    outer = chord((inner,), identity.s())
    assert chord_size(outer.header) == 1
    assert group(outer).delay().get(timeout=30) == [[31337]]
    two = chord([inner.clone(), chord([t["add"].si(1, 1)] * 2, t["tsum"].s())], identity.s())
    assert sorted(two.delay().get(timeout=30)) == [4, 31337]


def test_chain_ending_in_group_inside_chord_header(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    identity = t["identity"]
    header = group(chain(identity.s(42), group(identity.s(), identity.s())))
    assert chord_size(header) == 1  # the chain's result, the group's list, is one part
    assert chord(header, identity.s()).delay().get(timeout=30) == [[42, 42]]
    two = group(chain(identity.s(1), group(identity.s(), identity.s())), identity.si(7))
    assert chord(two, identity.s()).delay().get(timeout=30) == [[1, 1], 7]


def test_chord_size_counts_as_celery() -> None:
    app = Celery("sizes", broker="memory://")
    t = _tasks(app)
    add = t["add"]
    assert chord_size(group(add.s(1, 1), group(add.s(1, 1), add.s(1, 1)))) == 3
    assert chord_size(chain(add.s(1, 1), group(add.s(1), add.s(1), add.s(1)))) == 1
    assert chord_size(chain(add.s(1, 1), add.s(1))) == 1
    assert chord_size(chord([add.s(1, 1)] * 4, t["tsum"].s())) == 1


def test_group_skew_spreads_countdowns() -> None:
    app = Celery("skew", broker="memory://")
    add = _tasks(app)["add"]
    skewed = group(add.s(i, i) for i in range(4)).skew(start=1, step=2)
    assert [member.options["countdown"] for member in skewed.tasks] == [1, 3, 5, 7]
    capped = group(add.s(i, i) for i in range(4)).skew(start=0, stop=1, step=1)
    assert [member.options["countdown"] for member in capped.tasks] == [0, 1, 1, 1]


def test_signature_rebuilds_dicts_with_the_app() -> None:
    app = Celery("dicts", broker="memory://")
    add = _tasks(app)["add"]
    workflow = chain(add.s(1, 1), group(add.s(1), add.s(2)), app=app)
    rebuilt = signature(json.loads(json.dumps(workflow)), app=app)
    assert isinstance(rebuilt, chain) and rebuilt.app is app
    assert isinstance(rebuilt.tasks[1], group)


def test_before_task_publish_gets_the_decoded_body(app: Celery) -> None:
    add = _tasks(app)["add"]
    bodies: list[Any] = []

    def capture(sender: Any = None, body: Any = None, **_: Any) -> None:
        bodies.append((sender, json.dumps(body)))

    before_task_publish.connect(capture, weak=False)
    try:
        add.delay(1, 2)
        group(add.s(3, 4), add.s(5, 6)).delay()
    finally:
        before_task_publish.disconnect(capture)
    assert [sender for sender, _ in bodies] == ["n.add"] * 3
    assert [json.loads(text)[:2] for _, text in bodies] == [
        [[1, 2], {}],
        [[3, 4], {}],
        [[5, 6], {}],
    ]


def test_signature_fields_are_assignable() -> None:
    app = Celery("fields", broker="memory://")
    add = _tasks(app)["add"]
    sig = add.s(1)
    sig.args = (5,)
    sig.kwargs = {"y": 2}
    sig.options = {"countdown": 3}
    sig.immutable = True
    assert sig["args"] == (5,) and sig["kwargs"] == {"y": 2}
    assert sig["options"] == {"countdown": 3} and sig.immutable
    assert add.s(1).clone(args=(2,)).args == (2, 1)
