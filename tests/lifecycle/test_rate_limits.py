"""Rate limits on every transport: spacing, run-time changes, settings, global scope in-process."""

from __future__ import annotations

import time

import pytest

from celeriac.exceptions import NotRegistered
from celeriac.worker.worker import Worker, WorkerOptions
from helpers.services import WITH_AMQP

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """This module's tests also run on RabbitMQ (results in Redis)."""
    return str(request.param)


def test_thirty_tasks_at_ten_per_second_take_three_seconds_and_others_run_at_once(make_app, worker):
    app = make_app()

    @app.task(rate_limit="10/s")
    def limited(n: int) -> float:
        return time.time()

    @app.task
    def free() -> float:
        return time.time()

    worker(app, pool="threads", concurrency=4)
    started = time.time()
    results = [limited.delay(n) for n in range(30)]
    free_done = free.delay().get(timeout=10)
    finished = sorted(r.get(timeout=20) for r in results)
    assert free_done - started < 1.5, "the unlimited task waited behind the limited ones"
    assert finished[-1] - finished[0] >= 2.8
    assert free_done < finished[-1]


def test_global_scope_in_one_worker_spaces_calls_through_the_broker(make_app, worker):
    app = make_app()

    @app.task(rate_limit="10/s", rate_limit_scope="global")
    def limited(n: int) -> float:
        return time.time()

    @app.task
    def free() -> float:
        return time.time()

    worker(app, pool="threads", concurrency=4)
    started = time.time()
    results = [limited.delay(n) for n in range(30)]
    free_done = free.delay().get(timeout=10)
    finished = sorted(r.get(timeout=20) for r in results)
    assert free_done - started < 1.5
    assert finished[-1] - finished[0] >= 2.8


def test_rate_limit_changed_at_run_time_applies_to_the_next_calls(make_app, worker):
    app = make_app()

    @app.task
    def job(n: int) -> float:
        return time.time()

    controller = worker(app, pool="threads", concurrency=4)
    first = [job.delay(n) for n in range(10)]
    times = sorted(r.get(timeout=10) for r in first)
    assert times[-1] - times[0] < 0.9, "no limit yet"

    controller.consumer.set_rate_limit(job.name, "5/s")
    limited = sorted(r.get(timeout=10) for r in [job.delay(n) for n in range(6)])
    assert limited[-1] - limited[0] >= 0.95  # 6 calls at 5/s: 1.0 s from first to last

    controller.consumer.set_rate_limit(job.name, None)
    free = sorted(r.get(timeout=10) for r in [job.delay(n) for n in range(10)])
    assert free[-1] - free[0] < 0.9


def test_default_rate_limit_annotations_and_disable(make_app, worker):
    app = make_app(
        task_default_rate_limit="5/s",
        task_annotations={"tests.fast": {"rate_limit": None}, "*": {"rate_limit": "4/s"}},
    )

    @app.task(name="tests.fast", rate_limit="1/s")
    def fast() -> float:
        return time.time()

    @app.task(name="tests.other")
    def other() -> float:
        return time.time()

    worker(app, pool="threads", concurrency=4)
    fast_times = sorted(r.get(timeout=10) for r in [fast.delay() for _ in range(5)])
    other_times = sorted(r.get(timeout=10) for r in [other.delay() for _ in range(5)])
    assert fast_times[-1] - fast_times[0] < 0.8, "the annotation removes the task's own limit"
    assert other_times[-1] - other_times[0] >= 0.95, "'*' annotation: 4/s"


def test_worker_disable_rate_limits_ignores_every_limit(make_app, worker):
    app = make_app(worker_disable_rate_limits=True, task_default_rate_limit="1/s")

    @app.task(rate_limit="1/s")
    def limited() -> float:
        return time.time()

    worker(app, pool="threads", concurrency=4)
    times = sorted(r.get(timeout=10) for r in [limited.delay() for _ in range(5)])
    assert times[-1] - times[0] < 0.8


def test_invalid_scope_fails_the_task_with_a_clear_error(make_app, worker):
    app = make_app()

    @app.task(rate_limit="1/s", rate_limit_scope="cluster")
    def misconfigured() -> int:
        return 1

    worker(app)
    with pytest.raises(ValueError, match="invalid rate_limit_scope 'cluster'"):
        misconfigured.delay().get(timeout=10)


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
def test_worker_set_rate_limit_validates_and_reaches_an_in_process_consumer(make_app):
    app = make_app()

    @app.task
    def job() -> None:
        return None

    node = Worker(app, WorkerOptions(pool="threads", concurrency=1, quiet=True))
    with pytest.raises(NotRegistered):
        node.set_rate_limit("tests.nope", "1/s")
    with pytest.raises(ValueError, match="invalid rate limit"):
        node.set_rate_limit(job.name, "often")
    config = node.consumer_config(1)
    assert config.rate_updates is not None
    assert config.rate_updates() is None  # nothing changed yet
    node.set_rate_limit(job.name, "3/m")
    assert config.rate_updates() == {job.name: "3/m"}
    assert config.rate_updates() is None  # nothing new since


def test_a_stopped_worker_does_not_leave_its_backlog_booked_in_the_global_limit(make_app, worker):
    app = make_app()

    @app.task(rate_limit="3/s", rate_limit_scope="global")
    def limited(n: int) -> float:
        return time.time()

    first = worker(app, pool="threads", concurrency=2)
    results = [limited.delay(n) for n in range(15)]  # booked ahead, 14 would span 4.7 s
    results[0].get(timeout=10)
    first.stop()  # the waiting rest goes back to the queue
    restarted = time.time()
    worker(app, pool="threads", concurrency=2)
    done = [r.get(timeout=30) for r in results[1:]]
    # slots are reserved one at a time per process: the new worker's first run comes
    # about one interval after the restart, not after the old worker's whole backlog
    assert min(t for t in done if t >= restarted) - restarted < 2.0


def test_waiting_for_a_slot_keeps_the_lease_alive(make_app, worker):
    """A message waiting longer than visibility_timeout is renewed, not handed out again."""
    app = make_app()
    options = dict(app.conf.broker_transport_options or {})
    app = make_app(broker_transport_options={**options, "visibility_timeout": 1})
    runs: list[int] = []

    @app.task(rate_limit="2/s", rate_limit_scope="global")
    def limited(n: int) -> int:
        runs.append(n)
        return n

    worker(app, pool="threads", concurrency=2)
    results = [limited.delay(n) for n in range(6)]  # the last one waits 2.5 s
    assert [r.get(timeout=20) for r in results] == list(range(6))
    time.sleep(1.5)  # a lease that had expired would have been handed out again by now
    assert sorted(runs) == list(range(6)), "a waiting message was delivered twice"
