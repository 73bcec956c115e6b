"""Chain shapes as Celery builds them, with a real worker: empty groups are no-ops, a
nested chain keeps its callbacks, a chain's errbacks cover every step, result trees list
each node once, a task object stands for its signature, ``replace`` refuses what Celery
refuses, a task may return a result handle."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group
from celeriac.canvas.primitives import chain as _chain
from celeriac.exceptions import ImproperlyConfigured
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["memory", "redis"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """Chord counters on the memory and Redis backends."""
    return str(request.param)


def _tasks(app: Celery) -> dict[str, Any]:
    seen: list[Any] = []

    @app.task(name="s.identity")
    def identity(value: Any) -> Any:
        return value

    @app.task(name="s.add")
    def add(x: Any, y: Any) -> Any:
        return x + y

    @app.task(name="s.tsum")
    def tsum(values: list[int]) -> int:
        return sum(values)

    @app.task(name="s.note")
    def note(value: Any) -> None:
        seen.append(value)

    @app.task(name="s.fail")
    def fail() -> None:
        raise ValueError("expected")

    @app.task(name="s.empty", bind=True)
    def empty(self: Any, *_: Any) -> None:
        self.replace(chain())

    @app.task(name="s.handle")
    def handle() -> Any:
        return add.delay(1, 1)

    return {
        "identity": identity,
        "add": add,
        "tsum": tsum,
        "note": note,
        "fail": fail,
        "empty": empty,
        "handle": handle,
        "seen": seen,
    }


def _noted(seen: list[Any]) -> list[Any]:
    """``seen`` once a task has noted something in it (up to 10 s)."""
    for _ in range(100):
        if seen:
            break
        time.sleep(0.1)
    return seen


def _ids(node: Any) -> list[str]:
    """Every id in an ``as_tuple()`` tree."""
    if node is None:
        return []
    (node_id, parent), members = node
    return [node_id, *[i for member in members or () for i in _ids(member)], *_ids(parent)]


def test_empty_groups_in_a_chain_are_skipped(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    add = t["add"]
    assert chain(group(add.s(2, 2), add.s(4, 4)), group(), group())().get(timeout=30) == [4, 8]
    skipped = _chain(group(add.s(2, 2), add.s(4, 4)), group(), group(), t["tsum"].s(), app=app)
    assert skipped.apply_async().get(timeout=30) == 12
    assert _chain(group(), add.s(10), app=app).apply_async((5,)).get(timeout=30) == 15
    nested = _chain(_chain(group(), add.s(10)), add.s(20), app=app)
    assert nested.apply_async((5,)).get(timeout=30) == 35


def test_result_tree_lists_each_node_once(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    add, tsum = t["add"], t["tsum"]
    for options in ({}, {"task_id": str(uuid.uuid4())}):
        steps = (add.si(1, 0), group(add.s(1), add.s(2)), group(tsum.s(), tsum.s()), tsum.s())
        result = chain(*steps, add.s(1), **options).apply_async()
        ids = _ids(result.as_tuple())
        assert len(ids) == len(set(ids)) == 9
        assert result.get(timeout=30) == 11


def test_chain_id_is_set_by_freezing(app: Celery) -> None:
    add = _tasks(app)["add"]
    last = add.s(2).set(task_id="42")
    workflow = add.s(4) | last
    assert workflow.id is None
    workflow.freeze(last.id)
    assert workflow.id == "42"


def test_chord_gives_its_task_id_to_a_chain_body(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    add, tsum = t["add"], t["tsum"]
    steps: list[Any] = [tsum.s()]
    for _ in range(2):
        steps.extend([group(add.s(1), add.s(2)), tsum.s()])
    expected = str(uuid.uuid4())
    result = chord([add.si(1, 1), add.si(2, 2)], chain(*steps)).apply_async(task_id=expected)
    assert result.id == expected
    assert result.get(timeout=30) == 33  # 6 -> 7, 8 -> 15 -> 16, 17 -> 33


def test_task_objects_stand_for_their_signatures(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    add, tsum = t["add"], t["tsum"]
    body = chain(tsum.s(), group(add.s(8), add.s(16)), tsum.s() | add.s(32))
    assert chord([add.s(0, 1)], chord([tsum, tsum], body)).apply_async().get(timeout=30) == 60


def test_group_of_one_chain_ending_in_a_group(app: Celery, worker: WorkerFactory) -> None:
    add = _tasks(app)["add"]
    worker(app)
    assert group(add.s(1, 2) | group(add.s(1), add.s(2)))().get(timeout=30) == [4, 5]


def test_nested_chain_keeps_its_callback(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    inner = chain(t["identity"].s("a"), t["add"].s("b"))
    inner.link(t["note"].si("inner done"))
    assert chain(inner, t["add"].s("c")).delay().get(timeout=30) == "abc"
    assert _noted(t["seen"]) == ["inner done"]


def test_chain_errback_covers_its_first_step_in_a_chord_body(
    app: Celery, worker: WorkerFactory
) -> None:
    t = _tasks(app)
    worker(app)
    body = chain(t["fail"].si(), t["add"].s(1))
    body.link_error(t["note"].si("failed"))
    result = chord([t["add"].si(1, 1)], body).delay()
    with pytest.raises(ValueError):
        result.get(timeout=30)
    assert _noted(t["seen"]) == ["failed"]


def test_replace_with_an_empty_chain_is_refused(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    result = chain(t["identity"].s(1), t["empty"].s()).delay()
    with pytest.raises(ImproperlyConfigured, match="Cannot replace with an empty chain"):
        result.get(timeout=30)


def test_a_task_may_return_a_result_handle(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    (node_id, _parent), members = t["handle"].delay().get(timeout=30)  # its tuple form
    assert isinstance(node_id, str) and members is None


def test_where_group_and_chord_links_go(app: Celery) -> None:
    t = _tasks(app)
    add, note = t["add"], t["note"]
    members = group(add.s(1, 1), add.s(2, 2))
    members.link(note.s("done"))
    assert [len(m.options.get("link", [])) for m in members.tasks] == [1, 0]
    assert members.tasks[0].options["link"][0].immutable
    members.link_error(note.si("failed"))
    assert all(len(m.options["link_error"]) == 1 for m in members.tasks)
    inner = chord([add.s(1, 1)], add.s(1))
    outer = chord([add.s(3, 3), inner], t["tsum"].s())
    outer.link_error(note.si("outer failed"))
    assert "link_error" not in outer.header.tasks[0].options  # the setting is off
    assert len(inner.body.options["link_error"]) == 1  # a chord in the header links it
    assert len(outer.body.options["link_error"]) == 1
    app.conf.task_allow_error_cb_on_chord_header = True
    flagged = chord([add.s(3, 3)], t["tsum"].s())
    flagged.link_error(note.si("failed"))
    assert len(flagged.header.tasks[0].options["link_error"]) == 1


def test_generator_header_is_sent_as_it_is_produced(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    note, seen = t["note"], t["seen"]

    def header() -> Any:
        for index in range(4):
            if index == 3:  # the first members ran before the generator got this far
                assert _noted(seen) and set(seen) <= {0, 1}
            yield note.si(index)

    result = chord(header(), t["identity"].s()).apply_async()
    assert result.get(timeout=30) == [None] * 4
    assert sorted(seen) == [0, 1, 2, 3]
    assert len(chord(iter([t["add"].si(1, 1)]), t["tsum"].s()).clone().header.tasks) == 1


def test_empty_chains_in_a_chord_header_are_skipped(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    add, tsum = t["add"], t["tsum"]
    assert chord([chain()], tsum.s())().get(timeout=30) == 0
    mixed = chord([chain(), add.s(1, 1), chain(), add.s(2, 2)], tsum.s())
    assert mixed().get(timeout=30) == 6


def test_a_group_of_one_in_a_chain_is_its_member(app: Celery, worker: WorkerFactory) -> None:
    add = _tasks(app)["add"]
    worker(app)
    assert chain(group(add.s(0, 0)), add.s(-1))().get(timeout=30) == -1


def test_a_chord_body_of_a_failed_chord_fails_with_its_errbacks(
    app: Celery, worker: WorkerFactory
) -> None:
    t = _tasks(app)
    worker(app)
    tsum = t["tsum"]
    body = chord([tsum.s(), tsum.s()], tsum.s())
    result = chord([t["add"].si(1, 1), t["fail"].si()], body).apply_async(
        link_error=t["note"].si("failed")
    )
    with pytest.raises(ValueError):
        result.get(timeout=30)
    assert _noted(t["seen"]) == ["failed"]


def test_replace_with_a_chain_ending_in_a_group(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    add = t["add"]

    @app.task(name="s.to_chain_and_group", bind=True)
    def to_chain_and_group(self: Any) -> None:
        self.replace(chain(add.s(1, 2), group(add.s(1), add.s(1))))

    worker(app)
    assert to_chain_and_group.delay().get(timeout=30) == [4, 4]


def test_one_body_signature_in_two_chords_runs_twice(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    body = t["tsum"].s()
    first = chord([t["add"].si(1, 1)], body).delay()
    second = chord([t["add"].si(2, 2)], body).delay()
    assert first.id != second.id
    assert (first.get(timeout=30), second.get(timeout=30)) == (2, 4)
    frozen = chord([t["add"].si(3, 3)], t["tsum"].s())
    expected = frozen.body.freeze().id
    assert frozen.delay().id == expected
