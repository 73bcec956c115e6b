"""Workflows run by real workers on memory, SQLite and Redis: chains, groups, chords, nesting,
retries in a chord header, failing headers, a chord of 1,000 tasks, replace, add_to_chord."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import Celery, chain, chord, group
from celeriac.exceptions import ChordError
from celeriac.results.result import GroupResult
from helpers.services import WITH_AMQP

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """This module's tests also run on RabbitMQ (results in Redis)."""
    return str(request.param)


class Tasks:
    """The tasks of one test's app, with counters the tests read."""

    def __init__(self, app: Celery) -> None:
        self.lock = threading.Lock()
        self.body_calls: list[Any] = []
        self.errback_calls: list[Any] = []
        self.attempts: dict[str, int] = {}
        tasks = self

        @app.task(name="t.add")
        def add(x: int, y: int) -> int:
            return x + y

        @app.task(name="t.mul")
        def mul(x: int, y: int) -> int:
            return x * y

        @app.task(name="t.tsum")
        def tsum(values: list[int]) -> int:
            with tasks.lock:
                tasks.body_calls.append(list(values))
            return sum(values)

        @app.task(name="t.collect")
        def collect(values: list[Any]) -> list[Any]:
            with tasks.lock:
                tasks.body_calls.append(list(values))
            return values

        @app.task(name="t.noop")
        def noop(index: int) -> int:
            return index

        @app.task(name="t.fail")
        def fail(text: str) -> None:
            raise ValueError(text)

        @app.task(name="t.flaky", bind=True, max_retries=3)
        def flaky(self: Any, value: int) -> int:
            with tasks.lock:
                seen = tasks.attempts[self.request.id] = tasks.attempts.get(self.request.id, 0) + 1
            if seen < 2:
                raise self.retry(countdown=0)
            return value

        @app.task(name="t.on_error")
        def on_error(task_id: str) -> str:
            with tasks.lock:
                tasks.errback_calls.append(task_id)
            return task_id

        @app.task(name="t.on_chord_error")
        def on_chord_error(request: Any, exc: BaseException, traceback: Any) -> None:
            with tasks.lock:
                tasks.errback_calls.append((request.id, exc))

        @app.task(name="t.on_failure")
        def on_failure(request: Any, exc: BaseException, traceback: Any) -> None:
            with tasks.lock:
                tasks.errback_calls.append((request.id, request.task, exc, traceback))

        @app.task(name="t.replaced", bind=True)
        def replaced(self: Any, x: int) -> None:
            self.replace(mul.s(x, 10))

        @app.task(name="t.grow", bind=True)
        def grow(self: Any, x: int) -> int:
            self.add_to_chord(add.s(x, 1000))
            return x

        self.add, self.mul, self.tsum, self.collect = add, mul, tsum, collect
        self.noop, self.fail, self.flaky, self.on_error = noop, fail, flaky, on_error
        self.replaced, self.grow, self.on_chord_error = replaced, grow, on_chord_error
        self.on_failure = on_failure


@pytest.fixture
def tasks(app: Celery) -> Tasks:
    return Tasks(app)


def test_chain_results_flow_with_parents(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = (tasks.add.s(1, 1) | tasks.mul.s(5) | tasks.add.s(3)).apply_async()
    assert result.get(timeout=20) == 13
    assert result.parent.get(timeout=5) == 10
    assert result.parent.parent.get(timeout=5) == 2
    assert result.parent.parent.parent is None


def test_immutable_step_ignores_the_parent_result(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chain(tasks.add.s(1, 1), tasks.add.si(5, 5))()
    assert result.get(timeout=20) == 10


def test_group_result_api(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = group(tasks.add.s(i, i) for i in range(5))()
    assert result.get(timeout=20) == [0, 2, 4, 6, 8]
    assert result.join(timeout=5) == [0, 2, 4, 6, 8]
    assert result.ready() and result.successful()
    assert result.completed_count() == 5
    result.save()
    restored = GroupResult.restore(result.id, app=app)
    assert restored is not None and [r.id for r in restored.results] == [r.id for r in result]
    assert restored.get(timeout=5) == [0, 2, 4, 6, 8]


def test_group_inside_chain(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chain(tasks.add.s(1, 1), group(tasks.add.s(10), tasks.mul.s(10)))()
    assert result.get(timeout=20) == [12, 20]


def test_group_followed_by_task_is_a_chord(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chain(tasks.add.s(1, 1), group(tasks.add.s(1), tasks.add.s(2)), tasks.tsum.s())()
    assert result.get(timeout=20) == 7
    assert tasks.body_calls == [[3, 4]]


def test_chain_of_groups(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    flow = chain(
        group(tasks.add.s(1, 1), tasks.add.s(2, 2)),
        group(tasks.tsum.s(), tasks.collect.s()),
    )
    result = flow()
    assert result.get(timeout=20) == [6, [2, 4]]


def test_group_of_chains(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = group(
        tasks.add.s(1, 1) | tasks.mul.s(10),
        tasks.add.s(2, 2) | tasks.mul.s(10),
        tasks.add.s(3, 3) | tasks.mul.s(10) | tasks.add.s(1),
    )()
    assert result.get(timeout=20) == [20, 40, 61]


def test_chord_in_chain(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    flow = chain(
        tasks.add.s(1, 1),
        chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s()),
        tasks.mul.s(10),
    )
    result = flow()
    assert result.get(timeout=20) == 70
    assert tasks.body_calls == [[3, 4]]


def test_chord_in_group_header_chains(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    header = [tasks.add.s(1, 1) | tasks.mul.s(2), tasks.add.s(2, 2) | tasks.mul.s(2)]
    result = chord(header, tasks.collect.s())()
    assert result.get(timeout=20) == [4, 8]


def test_chord_body_fires_once_with_retrying_header(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chord([tasks.flaky.s(i) for i in range(6)], tasks.collect.s())()
    assert result.get(timeout=30) == [0, 1, 2, 3, 4, 5]
    assert tasks.body_calls == [[0, 1, 2, 3, 4, 5]]
    assert sorted(tasks.attempts.values()) == [2] * 6


def test_chord_of_1000_keeps_order_and_fires_once(
    make_app: Any, tasks: Tasks, app: Celery, worker: Any
) -> None:
    # Two workers: the last two header tasks may well finish at the same time.
    worker(app, concurrency=2)
    worker(app, concurrency=2, hostname="second@%h")
    result = chord([tasks.noop.s(i) for i in range(1000)], tasks.collect.s())()
    assert result.get(timeout=90) == list(range(1000))
    assert len(tasks.body_calls) == 1
    assert result.parent.completed_count() == 1000


def test_failing_header_calls_body_errback_with_chord_error(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    worker(app)
    body = tasks.tsum.s().on_error(tasks.on_error.s())
    result = chord([tasks.add.s(1, 1), tasks.fail.s("boom"), tasks.add.s(2, 2)], body)()
    with pytest.raises(ValueError, match="boom"):  # the header's failure (Celery's parents)
        result.get(timeout=20)
    with pytest.raises(ChordError, match="boom"):  # the body's own failure
        result.get(timeout=20, follow_parents=False)
    assert result.state == "FAILURE"
    assert isinstance(result.result, ChordError)
    deadline_ok = _wait(lambda: tasks.errback_calls == [result.id])
    assert deadline_ok, tasks.errback_calls
    assert tasks.body_calls == []


def test_new_style_errback_gets_the_chord_error(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    body = tasks.tsum.s().on_error(tasks.on_chord_error.s())
    result = chord([tasks.fail.s("bad"), tasks.add.s(2, 2)], body)()
    with pytest.raises(ChordError):
        result.get(timeout=20, follow_parents=False)
    assert _wait(lambda: len(tasks.errback_calls) == 1)
    [(body_id, exc)] = tasks.errback_calls
    assert body_id == result.id
    assert isinstance(exc, ChordError) and "bad" in str(exc)


def test_link_error_calls_errbacks_by_their_signature(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    """A new-style errback ``(request, exc, traceback)`` gets those (Celery's way), in the
    worker; the old single-argument form is sent the failed task's id."""
    worker(app)
    result = tasks.fail.apply_async(
        ("boom",), link_error=[tasks.on_failure.s(), tasks.on_error.s()]
    )
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=20)
    assert _wait(lambda: len(tasks.errback_calls) == 2), tasks.errback_calls
    new_style = next(call for call in tasks.errback_calls if isinstance(call, tuple))
    task_id, name, exc, traceback = new_style
    assert (task_id, name) == (result.id, "t.fail")
    assert isinstance(exc, ValueError) and "boom" in str(exc)
    assert "ValueError: boom" in traceback
    assert result.id in tasks.errback_calls  # the old-style errback


def test_failing_chain_step_fails_the_rest(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chain(tasks.fail.s("early"), tasks.add.s(1), tasks.add.s(2))()
    with pytest.raises(ValueError, match="early"):
        result.get(timeout=20)


def test_empty_chord_header_calls_body_with_nothing(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    assert chord([], tasks.tsum.s())().get(timeout=20) == 0


def test_replace_takes_over_id_and_chain(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chain(tasks.replaced.s(4), tasks.add.s(1))()
    assert result.get(timeout=20) == 41
    assert result.parent.get(timeout=5) == 40


def test_replace_inside_a_chord_header(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chord([tasks.replaced.s(1), tasks.add.s(2, 2)], tasks.collect.s())()
    assert result.get(timeout=20) == [10, 4]


def test_add_to_chord(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = chord([tasks.grow.s(1), tasks.add.s(2, 2)], tasks.collect.s())()
    values = result.get(timeout=20)
    assert sorted(values) == [1, 4, 1001]
    assert len(tasks.body_calls) == 1


def test_map_starmap_chunks_on_a_worker(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    assert tasks.add.starmap([(1, 1), (2, 2)]).apply_async().get(timeout=20) == [2, 4]
    assert tasks.tsum.map([[1, 2], [3]]).apply_async().get(timeout=20) == [3, 3]
    parts = tasks.add.chunks([(i, i) for i in range(5)], 2)()
    assert parts.get(timeout=20) == [[0, 2], [4, 6], [8]]


def test_invert_sends_and_waits(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    assert ~tasks.add.s(20, 22) == 42


def test_group_revoke_uses_remote_control(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    result = group(tasks.add.s(1, 1), tasks.add.s(2, 2)).apply_async(countdown=60)
    result.revoke(wait=True, timeout=2)
    assert _wait(lambda: all(r.state == "REVOKED" for r in result.results), timeout=20), [
        r.state for r in result.results
    ]


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_chord_unlock_fallback_polls_then_sends_the_body(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    """Celery's ``celery.chord_unlock`` (sent by Celery producers whose backend has no
    chord counters) waits for the header, then sends the body with the results."""
    worker(app)
    header = group(tasks.add.s(i, i) for i in range(4)).apply_async()
    body = tasks.collect.s()
    body_result = body.freeze()
    app.tasks["celery.chord_unlock"].apply_async(
        (header.id, dict(body)),
        {"result": [r.as_tuple() for r in header.results], "interval": 0.05},
    )
    assert body_result.get(timeout=20) == [0, 2, 4, 6]


def test_chain_link_runs_after_the_last_step(app: Celery, tasks: Tasks, worker: Any) -> None:
    worker(app)
    last = tasks.mul.s(10)
    last.link(tasks.add.s(1))
    result = chain(tasks.add.s(1, 1), last).apply_async(link=tasks.mul.s(2))
    assert result.get(timeout=20) == 20
    children = _wait(lambda: len(result.children) == 2)
    assert children
    assert sorted(child.get(timeout=20) for child in result.children) == [21, 40]


def test_failing_header_fails_every_member_of_a_group_body(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    worker(app)
    flow = chain(
        group(tasks.add.s(1, 1), tasks.fail.s("header")),
        group(tasks.tsum.s(), tasks.collect.s()),
    )
    result = flow()
    # each member fails with the header task's own error, as Celery's
    # _handle_group_chord_error stores it (a single-task body gets the ChordError)
    with pytest.raises(ValueError, match="header"):
        result.get(timeout=20)
    assert _wait(lambda: all(member.state == "FAILURE" for member in result.results))
    assert all(isinstance(member.result, ValueError) for member in result.results)


def test_a_chords_errback_joins_the_own_errbacks_of_a_group_body(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    """A group body's own ``link_error`` replaces its tasks' errbacks when it runs, so the
    chord's ``link_error`` joins the group's (Celery's ``_add_body_callbacks``): a failing
    member calls both, once each."""
    worker(app)
    body = group(tasks.fail.s(), tasks.tsum.s()).set(link_error=tasks.on_error.si("group"))
    result = chord([tasks.add.si(1, 1)], body).apply_async(link_error=tasks.on_error.si("chord"))
    with pytest.raises(ValueError):
        result.get(timeout=20)
    assert _wait(lambda: len(tasks.errback_calls) >= 2), tasks.errback_calls
    time.sleep(0.3)  # nothing more comes
    assert sorted(tasks.errback_calls) == ["chord", "group"]


def test_a_step_replaced_by_a_group_in_a_chord_header_still_reports_to_the_chord(
    app: Celery, tasks: Tasks, worker: Any
) -> None:
    """A chain in a chord header whose step replaces itself with a group (Celery's
    ``test_replaced_nested_chord`` in small): the steps after it keep their chord
    membership, so the outer chord fires. Before, the replacement's empty ``chord`` and
    ``group_id`` options overwrote the last step's, and the chord waited for ever."""

    @app.task(name="t.add_to_all", bind=True)
    def add_to_all(self: Any, nums: list[int], val: int) -> None:
        raise self.replace(group(*[tasks.add.s(n, val) for n in nums]))

    worker(app)
    flat = chord([add_to_all.s([1, 2], 5) | tasks.tsum.s(), tasks.add.s(1, 1)], tasks.collect.s())
    assert flat().get(timeout=20) == [13, 2]
    nested = chord(
        [
            chord([tasks.add.s(1, 2), tasks.add.s(3, 4)], add_to_all.s(5)) | tasks.tsum.s(),
            chord([tasks.add.s(6, 7), tasks.add.s(0, 0)], add_to_all.s(8)) | tasks.tsum.s(),
        ],
        tasks.collect.s(),
    )
    assert nested().get(timeout=20) == [20, 29]


def test_expired_header_task_fails_the_chord(app: Celery, tasks: Tasks, worker: Any) -> None:
    from datetime import UTC, datetime, timedelta

    worker(app)
    past = datetime.now(UTC) - timedelta(seconds=5)
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2).set(expires=past)], tasks.tsum.s())()
    with pytest.raises(ChordError, match="expired"):
        result.get(timeout=20, follow_parents=False)
    assert tasks.body_calls == []
