"""Celery's Task hooks and flags: ``on_bound``, ``shadow_name``, ``trail``/``add_trail``,
``send_events``, ``resultrepr_maxsize``; and Context's execution-only fields."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.contrib.testing import start_worker
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context
from celeriac.middleware.base import Middleware
from celeriac.worker.task_events import TaskEvents
from worker.test_finisher import Row, Seen, _finish_one

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app() -> Celery:
    return Celery("hooks", broker="memory://", backend="memory://", set_as_current=False)


def test_celery_defaults() -> None:
    assert (Task.trail, Task.send_events, Task.resultrepr_maxsize) == (True, True, 1024)
    ctx = Context()
    assert ctx.children == [] and ctx.children is not Context().children
    assert (ctx.logfile, ctx.loglevel, ctx.utc, ctx.taskset) == (None, None, None, None)


def test_taskset_is_the_group_alias() -> None:
    ctx = Context(group="g-1")
    assert ctx.taskset == "g-1"
    ctx.children.append("r")
    ctx.clear()
    assert ctx.taskset is None and ctx.children == []


def test_on_bound_is_called_with_the_app(app: Celery) -> None:
    bound: list[tuple[type, Celery]] = []

    class Recording(Task[..., object]):
        @classmethod
        def on_bound(cls, app: Celery) -> None:
            bound.append((cls, app))

    @app.task(name="hooks.decorated", base=Recording)
    def decorated() -> None: ...

    assert bound == [(Recording, app)]

    class Registered(Recording):
        name = "hooks.registered"

        def run(self) -> None: ...

    app.register_task(Registered)
    assert bound[-1] == (Registered, app)


def test_shadow_name_names_the_message(app: Celery) -> None:
    class Shadowed(Task[..., object]):
        def shadow_name(
            self,
            args: Sequence[object],
            kwargs: Mapping[str, object],
            options: Mapping[str, object],
        ) -> str | None:
            return f"{self.name}:{args[0]}" if args else None

    @app.task(name="hooks.shadowed", base=Shadowed)
    def shadowed(x: object = None) -> None: ...

    def by_kwarg(task: Task[..., object], args: Any, kwargs: Any, options: Any) -> str:
        return f"{task.name}/{kwargs['who']}"

    @app.task(name="hooks.by_kwarg", shadow_name=by_kwarg)
    def named(who: str) -> None: ...

    sent: list[str | None] = []
    app.middleware.add(_Shadows(sent))
    shadowed.apply_async(("alpha",))
    shadowed.apply_async()  # None: the task's own name
    shadowed.apply_async(("alpha",), shadow="given")  # an explicit shadow wins
    named.delay(who="bob")
    assert sent == ["hooks.shadowed:alpha", None, "given", "hooks.by_kwarg/bob"]


class _Shadows(Middleware):
    """A middleware noting each published message's shadow header."""

    def __init__(self, into: list[str | None]) -> None:
        self.into = into

    def before_publish(self, message: Any, queue: str) -> None:
        shadow = message.headers.get("shadow")
        self.into.append(None if shadow is None else str(shadow))


def test_tasks_sent_while_running_are_trailed(app: Celery) -> None:
    @app.task(name="hooks.child")
    def child() -> int:
        return 1

    @app.task(name="hooks.parent", bind=True)
    def parent(self: Any) -> list[str]:
        first = child.delay()
        child.apply_async(add_to_parent=False)
        return [str(result.id) for result in self.request.children] + [str(first.id)]

    class NoTrail(Task[..., object]):
        trail = False

    @app.task(name="hooks.untrailed", base=NoTrail, bind=True)
    def untrailed(self: Any) -> int:
        child.delay()
        return len(self.request.children)

    with start_worker(app, pool="threads", perform_ping_check=False):
        ids = parent.delay().get(timeout=10)
        assert len(ids) == 2 and ids[0] == ids[1]  # one recorded: the add_to_parent=False one not
        assert untrailed.delay().get(timeout=10) == 0


def test_add_trail_appends_to_request_children(app: Celery) -> None:
    @app.task(name="hooks.trail", bind=True)
    def trail(self: Any) -> None: ...

    trail.push_request(id="t")
    try:
        assert trail.add_trail("res") == "res"
        assert trail.request.children == ["res"]
        trail.trail = False
        trail.add_trail("other")
        assert trail.request.children == ["res"]
    finally:
        trail.pop_request()


class _Recorder:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, type_: str, **fields: Any) -> None:
        self.sent.append((type_, fields))


def _job(task: Task[..., object]) -> Any:
    request = Context(id="job-1", task=task.name, hostname="w@h")
    return SimpleNamespace(
        task=task, request=request, call=SimpleNamespace(id="job-1"),
        delivery=SimpleNamespace(queue="celery"),
    )  # fmt: skip


def _events(app: Celery, task: Task[..., object]) -> list[tuple[str, dict[str, Any]]]:
    recorder = _Recorder()
    events = TaskEvents(app, enabled=True)
    events._dispatcher = lambda hostname, node_first=False: recorder  # type: ignore[method-assign]
    job = _job(task)
    events.received(job)
    events.started(job)
    events.finished(job, Outcome(OutcomeKind.SUCCESS, retval="x" * 5000))
    return recorder.sent


def test_send_events_and_resultrepr_maxsize_shape_task_events(app: Celery) -> None:
    @app.task(name="hooks.loud")
    def loud() -> None: ...

    sent = _events(app, loud)
    assert [type_ for type_, _ in sent] == ["task-received", "task-started", "task-succeeded"]
    assert len(sent[-1][1]["result"]) <= 1024

    loud.resultrepr_maxsize = 40
    assert len(_events(app, loud)[-1][1]["result"]) <= 40

    @app.task(name="hooks.quiet", send_events=False)
    def quiet() -> None: ...

    assert _events(app, quiet) == []


def test_resultrepr_maxsize_cuts_the_worker_log_line(
    app: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(name="hooks.big", resultrepr_maxsize=30)
    def big() -> str:
        return "y" * 500

    with start_worker(app, pool="threads", perform_ping_check=False):
        caplog.set_level(logging.INFO, logger="celery")
        assert big.delay().get(timeout=10) == "y" * 500
    [line] = [r.getMessage() for r in caplog.records if "succeeded in" in r.getMessage()]
    shown = line.split(": ", 1)[1]
    assert shown.startswith("'yyy") and len(shown) <= 30


def test_acks_failed_run_follows_celerys_order() -> None:
    app = Celery("acks", broker="memory://", set_as_current=False)

    @app.task(name="acks.plain")
    def plain() -> None: ...

    conf = app.conf
    assert (Task.acks_on_failure, Task.acks_on_timeout) == (None, None)
    assert plain.acks_failed_run(conf) and plain.acks_failed_run(conf, timeout=True)
    plain.acks_on_failure_or_timeout = False  # the fallback of both
    assert not plain.acks_failed_run(conf) and not plain.acks_failed_run(conf, timeout=True)
    conf.task_acks_on_timeout = True  # the setting over the fallback
    assert not plain.acks_failed_run(conf) and plain.acks_failed_run(conf, timeout=True)
    plain.acks_on_timeout = False  # the task's own over the setting
    plain.acks_on_failure = True
    assert plain.acks_failed_run(conf) and not plain.acks_failed_run(conf, timeout=True)


@pytest.mark.parametrize(
    ("options", "outcome", "action"),
    [
        ({"acks_on_failure": False}, "body", "requeue"),
        ({"acks_on_failure": False}, "time_limit", "ack"),
        ({"acks_on_timeout": False}, "time_limit", "requeue"),
        ({"acks_on_timeout": False}, "body", "ack"),
    ],
)
def test_the_finisher_settles_failed_runs_by_them(
    options: dict[str, Any], outcome: str, action: str
) -> None:
    app = Celery("acks", broker="memory://", backend="memory://", set_as_current=False)
    name = f"acks.fails.{outcome}.{'_'.join(options)}"

    @app.task(name=name, **options)
    def fails() -> None:
        raise ValueError("boom")

    kind = OutcomeKind.FAILURE if outcome == "body" else OutcomeKind.TIME_LIMIT
    row = Row(kind, name, outcome, "FAILURE", action)
    settler, _ = asyncio.run(_finish_one(app, row, Seen()))
    assert settler.actions == [action]
    app.transport.purge("celery")


def test_store_eager_result_stores_what_an_eager_run_returned_or_raised(app: Celery) -> None:
    @app.task(name="h.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="h.boom")
    def boom() -> None:
        raise ValueError("boom")

    @app.task(name="h.quiet", ignore_result=True, store_eager_result=True)
    def quiet() -> int:
        return 1

    @app.task(name="h.own", store_eager_result=True)
    def own() -> int:
        return 7

    assert app.AsyncResult(add.apply((1, 1)).id).state == "PENDING"  # Celery's default: off
    assert app.AsyncResult(own.apply().id).get(timeout=1) == 7  # the task's own flag
    app.conf.task_store_eager_result = True
    done = add.apply((2, 2))
    assert app.AsyncResult(done.id).get(timeout=1) == 4
    failed = boom.apply()
    stored = app.AsyncResult(failed.id)
    assert stored.state == "FAILURE" and isinstance(stored.result, ValueError)
    assert "ValueError" in (stored.traceback or "")
    assert app.AsyncResult(quiet.apply().id).state == "PENDING"  # ignore_result wins


def test_implemented_settings_are_not_named_inert(app: Celery) -> None:
    from celeriac.worker.checks import startup_warnings

    @app.task(name="h.noop")
    def noop() -> None:
        return None

    app.conf.update(
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_queue_max_priority=10,
        task_store_eager_result=True,
    )
    assert startup_warnings(app, ["celery"]) == []
