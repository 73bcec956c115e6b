"""The finisher, one kind of Outcome at a time: the state stored, the hooks, the settle action.

Each row takes a real message through a real transport and result store: intake makes
the job, the outcome comes from running the task body (``call_sync``) or, for the
endings decided around the body, is built as the pipeline builds it; the finisher
handles it and the settler writes it. The table must cover every ``OutcomeKind``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from celeriac import Celery
from celeriac.app.trace import call_sync
from celeriac.exceptions import (
    Ignore,
    Reject,
    TaskRevokedError,
    TimeLimitExceeded,
    WorkerLostError,
)
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import Context
from celeriac.middleware.base import Middleware
from celeriac.pools.reports import RunningTask
from celeriac.transports.base import Delivery
from celeriac.worker.executor import internal_error
from celeriac.worker.finisher import Finisher
from celeriac.worker.held import HeldDeliveries, SettleAction
from celeriac.worker.intake import Intake
from celeriac.worker.job import Job
from celeriac.worker.observer import Guarded
from celeriac.worker.revoked import RevokedSet
from celeriac.worker.scheduling import revoked_outcome
from celeriac.worker.settler import Settler

pytestmark = pytest.mark.timeout(30)


class RecordingSettler(Settler):
    """The real settler, noting the action it was given for each delivery."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.actions: list[str] = []

    def add(
        self,
        delivery: Delivery | None,
        meta: tuple[str, dict[str, Any]] | None = None,
        action: str = "ack",
    ) -> None:
        if delivery is not None:
            self.actions.append(str(action))
        super().add(delivery, meta, action)


class Hooks(Middleware):
    """Notes the pipeline's hooks (the body's own ones run in app.trace)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_revoked(self, task: Any, request: Context, reason: str) -> None:
        self.calls.append(f"on_revoked:{reason}")

    def on_aborted(self, task: Any, request: Context, exc: BaseException, traceback: str) -> None:
        self.calls.append(f"on_aborted:{type(exc).__name__}")

    def on_internal_error(
        self, task: Any, request: Context, exc: Exception, traceback: str
    ) -> None:
        self.calls.append(f"on_internal_error:{type(exc).__name__}")


class Seen:
    """An observer: the outcomes the finisher reported."""

    def __init__(self) -> None:
        self.kinds: list[OutcomeKind] = []

    def received(self, job: Job) -> None:
        pass

    def started(self, job: Job) -> None:
        pass

    def finished(self, job: Job | RunningTask, outcome: Outcome) -> None:
        self.kinds.append(outcome.kind)


def _body(app: Celery, name: str) -> Callable[[Job], Outcome]:
    def run(job: Job) -> Outcome:
        return call_sync(app.tasks[name], job.request)

    return run


def _made(outcome: Outcome) -> Callable[[Job], Outcome]:
    return lambda job: outcome


@dataclass
class Row:
    kind: OutcomeKind
    task: str  # the task sent
    outcome: str  # "body" (run it) or the name of a built outcome
    state: str  # the stored state afterwards
    action: str | None  # the settler's action for the message (None: not through the settler)
    dead_letters: int = 0
    queued: int = 0  # messages on the queue afterwards (a retry, a requeue)
    hooks: tuple[str, ...] = ()


BUILT: dict[str, Outcome] = {
    "revoked": revoked_outcome(),
    "expired": Outcome(OutcomeKind.EXPIRED, exc=TaskRevokedError("expired")),
    "time_limit": Outcome(
        OutcomeKind.TIME_LIMIT, exc=TimeLimitExceeded(1.0), traceback="TimeLimitExceeded(1.0)\n"
    ),
    "lost": Outcome(OutcomeKind.LOST, exc=WorkerLostError("Worker exited prematurely.")),
    "internal": internal_error(RuntimeError("a bad rate_limit")),
}

TABLE = [
    Row(OutcomeKind.SUCCESS, "t.ok", "body", "SUCCESS", "ack"),
    Row(OutcomeKind.FAILURE, "t.fails", "body", "FAILURE", "ack"),
    Row(OutcomeKind.FAILURE, "t.fails_requeued", "body", "FAILURE", "requeue", queued=1),
    Row(OutcomeKind.RETRY, "t.retries", "body", "RETRY", "ack", queued=1),
    Row(OutcomeKind.IGNORED, "t.ignored", "body", "PENDING", "ack"),
    Row(OutcomeKind.REJECTED, "t.rejected", "body", "FAILURE", None, dead_letters=1),
    Row(OutcomeKind.REJECTED, "t.rejected_requeued", "body", "PENDING", "requeue", queued=1),
    Row(OutcomeKind.REVOKED, "t.ok", "revoked", "REVOKED", "ack", hooks=("on_revoked:revoked",)),
    Row(OutcomeKind.EXPIRED, "t.ok", "expired", "REVOKED", "ack", hooks=("on_revoked:expired",)),
    Row(
        OutcomeKind.TIME_LIMIT,
        "t.ok",
        "time_limit",
        "FAILURE",
        "ack",
        hooks=("on_aborted:TimeLimitExceeded",),
    ),
    Row(OutcomeKind.LOST, "t.ok", "lost", "FAILURE", "ack", hooks=("on_aborted:WorkerLostError",)),
    Row(
        OutcomeKind.INTERNAL_ERROR,
        "t.ok",
        "internal",
        "FAILURE",
        None,
        dead_letters=1,
        hooks=("on_internal_error:RuntimeError",),
    ),
]


def test_the_table_covers_every_kind_of_outcome() -> None:
    assert {row.kind for row in TABLE} == set(OutcomeKind)


def _register(app: Celery) -> None:
    @app.task(name="t.ok")
    def ok() -> int:
        return 42

    @app.task(name="t.fails")
    def fails() -> None:
        raise ValueError("boom")

    @app.task(name="t.fails_requeued", acks_on_failure_or_timeout=False)
    def fails_requeued() -> None:
        raise ValueError("boom")

    @app.task(name="t.retries", bind=True, max_retries=3)
    def retries(self: Any) -> None:
        raise self.retry(exc=KeyError("again"), countdown=0)

    @app.task(name="t.ignored")
    def ignored() -> None:
        raise Ignore()

    @app.task(name="t.rejected")
    def rejected() -> None:
        raise Reject("bad input", requeue=False)

    @app.task(name="t.rejected_requeued")
    def rejected_requeued() -> None:
        raise Reject("not now", requeue=True)


async def _finish_one(app: Celery, row: Row, seen: Seen) -> tuple[RecordingSettler, str]:
    transport = app.new_transport()
    await transport.open()
    settler = RecordingSettler(transport, app.backend)
    settler.start()
    background: set[asyncio.Task[None]] = set()
    held = HeldDeliveries(transport, settler, background)
    finisher = Finisher(app, "celery@finisher", held, observer=seen)
    intake = Intake(app, "celery@finisher", held, finisher, RevokedSet, Guarded(None))
    sent = app.send_task(row.task)
    deliveries = await transport.fetch(["celery"], 1, 5.0)
    assert len(deliveries) == 1
    job = intake.take(deliveries[0])
    assert job is not None and job.call.id == sent.id
    make = _body(app, row.task) if row.outcome == "body" else _made(BUILT[row.outcome])
    outcome = make(job)
    assert outcome.kind is row.kind
    await finisher.finish(job, outcome)
    assert job.settled
    assert len(held) == 0
    await finisher.drain()
    if background:
        await asyncio.gather(*background)
    await settler.close()
    await transport.aclose()
    return settler, sent.id


@pytest.mark.parametrize("row", TABLE, ids=lambda row: f"{row.kind}-{row.task}")
def test_each_outcome_goes_through_the_finisher(app: Celery, row: Row) -> None:
    _register(app)
    hooks = Hooks()
    app.middleware.add(hooks)
    seen = Seen()
    settler, task_id = asyncio.run(_finish_one(app, row, seen))
    assert app.AsyncResult(task_id).state == row.state
    assert settler.actions == ([row.action] if row.action else [])
    assert len(app.transport.dead_letters()) == row.dead_letters
    assert app.transport.queue_length("celery") == row.queued
    assert tuple(hooks.calls) == row.hooks
    assert seen.kinds == [row.kind]


def test_a_job_acked_early_only_gets_its_state_stored(app: Celery) -> None:
    """acks_late=False: the message was acked before the body ran; the finisher stores
    the state and settles nothing again."""
    _register(app)

    async def run() -> RecordingSettler:
        transport = app.new_transport()
        await transport.open()
        settler = RecordingSettler(transport, app.backend)
        settler.start()
        held = HeldDeliveries(transport, settler, set())
        finisher = Finisher(app, "celery@finisher", held)
        intake = Intake(app, "celery@finisher", held, finisher, RevokedSet, Guarded(None))
        app.send_task("t.ok")
        (delivery,) = await transport.fetch(["celery"], 1, 5.0)
        job = intake.take(delivery)
        assert job is not None
        held.settle(job)  # the early ack
        await finisher.finish(job, call_sync(app.tasks["t.ok"], job.request))
        await settler.close()
        await transport.aclose()
        return settler

    settler = asyncio.run(run())
    assert settler.actions == [SettleAction.ACK.value]


def test_finish_now_refuses_an_outcome_that_needs_waiting(app: Celery) -> None:
    finisher = Finisher(app, "celery@finisher")
    with pytest.raises(RuntimeError, match="settles no messages"):
        _ = finisher.held
    job_outcome = Outcome(OutcomeKind.SUCCESS, retval=1)
    with pytest.raises(ValueError, match=r"Finisher\.finish"):
        finisher.finish_now(None, job_outcome)  # type: ignore[arg-type]


# -- the prefork parent's part: finish_lost with a typed report ----------------------------
def _running(task_id: str, **fields: Any) -> RunningTask:
    return RunningTask(id=task_id, name="t.ok", tag="tag-1", queue="celery", time=1.0, **fields)


@pytest.mark.parametrize(
    ("outcome", "fields", "state", "action", "hooks"),
    [
        (BUILT["lost"], {}, "FAILURE", SettleAction.ACK, ("on_aborted:WorkerLostError",)),
        (
            BUILT["lost"],
            {"acks_late": True, "reject_on_worker_lost": True},
            "PENDING",
            SettleAction.NONE,
            (),
        ),
        (
            Outcome(OutcomeKind.TIME_LIMIT, exc=TimeLimitExceeded(2.0)),
            {"acks_late": True, "reject_on_worker_lost": True, "hard_limit": 2.0},
            "FAILURE",
            SettleAction.ACK,
            ("on_aborted:TimeLimitExceeded",),
        ),
        (
            revoked_outcome("terminated"),
            {},
            "REVOKED",
            SettleAction.ACK,
            ("on_revoked:terminated",),
        ),
    ],
    ids=["lost", "lost-runs-again", "time-limit", "terminated"],
)
def test_finish_lost_maps_a_dead_childs_task(
    app: Celery,
    outcome: Outcome,
    fields: dict[str, Any],
    state: str,
    action: SettleAction,
    hooks: tuple[str, ...],
) -> None:
    _register(app)
    recorded = Hooks()
    app.middleware.add(recorded)
    seen = Seen()
    finisher = Finisher(app, "celery@parent", observer=seen)
    task_id = f"lost-{outcome.kind}-{len(fields)}"
    assert finisher.finish_lost(_running(task_id, **fields), outcome, "signal 9 (SIGKILL)") is (
        action
    )
    assert app.AsyncResult(task_id).state == state
    assert tuple(recorded.calls) == hooks
    assert seen.kinds == [outcome.kind]
