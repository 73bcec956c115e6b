"""Task events come from the pipeline's observer seam: every end the finisher records gives
exactly one Celery event (or Celery's ``task-failed`` + ``task-rejected`` pair), with
Celery's fields, and ``task-retried`` leaves before the retry message is published.

Each row of the finisher's own table (``tests/worker/test_finisher.py``: a real message
through a real transport and result store, every ``OutcomeKind``) runs with
:class:`~celeriac.worker.task_events.TaskEvents` as the observer, its dispatcher replaced
by one that records what it is asked to send.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from celeriac import Celery
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.worker.finisher import Finisher
from celeriac.worker.held import HeldDeliveries
from celeriac.worker.intake import Intake
from celeriac.worker.observer import Guarded, Observers
from celeriac.worker.revoked import RevokedSet
from celeriac.worker.scheduling import revoked_outcome
from celeriac.worker.task_events import TaskEvents
from helpers.vectors import load_vector
from worker.test_finisher import BUILT, TABLE, RecordingSettler, Row, _body, _made, _register
from worker.test_finisher import _running as running_task

pytestmark = pytest.mark.timeout(30)

_COMMON = {"hostname", "utcoffset", "pid", "clock", "timestamp", "type"}


class RecordingDispatcher:
    """Stands in for the consumer's EventDispatcher: notes each event and each flush."""

    def __init__(self, queue_length: Any = None) -> None:
        self.pid = os.getpid()
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.flushes: list[tuple[int, int]] = []  # (events sent so far, queue length then)
        self._queue_length = queue_length

    def send(self, type_: str, **fields: Any) -> None:
        self.sent.append((type_, fields))

    async def aflush(self) -> None:
        length = self._queue_length() if self._queue_length is not None else -1
        self.flushes.append((len(self.sent), length))

    def types(self) -> list[str]:
        return [type_ for type_, _ in self.sent]

    def of(self, type_: str) -> dict[str, Any]:
        [fields] = [fields for sent, fields in self.sent if sent == type_]
        return fields


#: The events of each row after ``task-received`` (one end, one event; Celery's pair for
#: a Reject; none for Ignore, as Celery).
ENDS: dict[str, list[str]] = {
    "t.ok/body": ["task-succeeded"],
    "t.fails/body": ["task-failed"],
    "t.fails_requeued/body": ["task-failed"],
    "t.retries/body": ["task-retried"],
    "t.ignored/body": [],
    "t.rejected/body": ["task-failed", "task-rejected"],
    "t.rejected_requeued/body": ["task-failed", "task-rejected"],
    "t.ok/revoked": ["task-revoked"],
    "t.ok/expired": ["task-revoked"],
    "t.ok/time_limit": ["task-failed"],
    "t.ok/lost": ["task-failed"],
    "t.ok/internal": ["task-failed"],
}


def _captured_fields() -> dict[str, list[str]]:
    """Celery's own fields of each task event type (vectors 10 and 13), in its order."""
    fields: dict[str, list[str]] = {}
    for name in ("10-redis-events.json", "13-redis-events-task-lifecycle.json"):
        data = load_vector(name)
        for item in data.get("events") or data.get("messages") or []:
            body = item["decoded_body"]
            for event in body if isinstance(body, list) else [body]:
                own = [k for k in event if k not in _COMMON]
                fields.setdefault(event["type"], own)
    return fields


CELERY_FIELDS = _captured_fields()
#: what celeriac adds beyond Celery's fields (after them)
EXTENSIONS = {
    "task-received": ["queue"],
    "task-succeeded": ["rss", "rss_delta"],
    "task-failed": ["runtime", "rss", "rss_delta"],
}


async def _run_row(app: Celery, row: Row) -> tuple[RecordingDispatcher, int, str]:
    transport = app.new_transport()
    await transport.open()
    settler = RecordingSettler(transport, app.backend)
    settler.start()
    held = HeldDeliveries(transport, settler, set())
    events = TaskEvents(app, enabled=True)
    dispatcher = RecordingDispatcher(lambda: app.transport.queue_length("celery"))
    events._consumers["celery@events"] = dispatcher  # type: ignore[assignment]
    observer = Observers([events])
    finisher = Finisher(app, "celery@events", held, observer=observer)
    intake = Intake(app, "celery@events", held, finisher, RevokedSet, Guarded(observer))
    sent = app.send_task(row.task)
    (delivery,) = await transport.fetch(["celery"], 1, 5.0)
    job = intake.take(delivery)
    assert job is not None
    make = _body(app, row.task) if row.outcome == "body" else _made(BUILT[row.outcome])
    outcome: Outcome = make(job)
    await finisher.finish(job, outcome)
    await finisher.drain()
    await settler.close()
    await transport.aclose()
    return dispatcher, app.transport.queue_length("celery"), sent.id


@pytest.mark.parametrize("row", TABLE, ids=lambda row: f"{row.kind}-{row.task}")
def test_each_end_the_finisher_records_sends_one_celery_event(app: Celery, row: Row) -> None:
    _register(app)
    dispatcher, queued, task_id = asyncio.run(_run_row(app, row))
    types = dispatcher.types()
    assert types[0] == "task-received"
    assert types[1:] == ENDS[f"{row.task}/{row.outcome}"]
    for type_, fields in dispatcher.sent:
        assert fields["uuid"] == task_id
        own = [k for k in fields if k not in EXTENSIONS.get(type_, [])]
        if type_ == "task-failed" and row.outcome in ("time_limit", "lost", "internal"):
            assert own == ["uuid", "exception", "traceback"]
        else:
            assert own == CELERY_FIELDS[type_], type_
    if row.kind is OutcomeKind.RETRY:
        # task-retried was published (flushed) while the retry was not on the queue yet
        assert dispatcher.flushes == [(len(types), 0)]
        assert queued == 1
        assert dispatcher.of("task-retried")["exception"] == "KeyError('again')"
    if row.outcome == "expired":
        assert dispatcher.of("task-revoked") == {
            "uuid": task_id,
            "terminated": False,
            "signum": None,
            "expired": True,
        }
    if row.task == "t.rejected":
        assert dispatcher.of("task-rejected")["requeue"] is False
        assert dispatcher.of("task-failed")["exception"].startswith("reject requeue=False")
    if row.task == "t.ok" and row.outcome == "body":
        succeeded = dispatcher.of("task-succeeded")
        assert succeeded["result"] == "42" and succeeded["runtime"] >= 0


@pytest.mark.parametrize(
    ("outcome", "fields", "expected"),
    [
        (BUILT["lost"], {}, [("task-failed", "WorkerLostError('Worker exited prematurely.')")]),
        (
            BUILT["lost"],
            {"acks_late": True, "reject_on_worker_lost": True},
            [("task-rejected", True)],
        ),
        (BUILT["time_limit"], {"hard_limit": 1.0}, [("task-failed", "TimeLimitExceeded(1.0)")]),
        (
            revoked_outcome("terminated"),
            {},
            [("task-revoked", True)],
        ),
    ],
    ids=["lost", "lost-runs-again", "time-limit", "terminated"],
)
def test_the_prefork_parent_reports_a_dead_childs_task_once(
    app: Celery, outcome: Outcome, fields: dict[str, Any], expected: list[tuple[str, Any]]
) -> None:
    _register(app)
    events = TaskEvents(app, enabled=True)
    node = RecordingDispatcher()
    events.attach("celery@parent", node)  # type: ignore[arg-type]
    finisher = Finisher(app, "celery@parent", observer=events)
    finisher.finish_lost(running_task("dead-1", **fields), outcome, "signal 9 (SIGKILL)")
    assert [type_ for type_, _ in node.sent] == [type_ for type_, _ in expected]
    (type_, sent), (_, value) = node.sent[0], expected[0]
    assert sent["uuid"] == "dead-1"
    if type_ == "task-failed":
        assert sent["exception"] == value
        assert list(sent) == ["uuid", "exception", "traceback"]
    elif type_ == "task-rejected":
        assert sent == {"uuid": "dead-1", "requeue": value}
    else:
        assert sent == {"uuid": "dead-1", "terminated": True, "signum": 15, "expired": False}


def test_a_forked_childs_copy_of_the_parents_dispatcher_is_never_used(app: Celery) -> None:
    events = TaskEvents(app, enabled=True)
    inherited = RecordingDispatcher()
    inherited.pid = os.getpid() + 1  # as a child sees its parent's dispatcher after fork
    events.attach("celery@parent", inherited)  # type: ignore[arg-type]
    finisher = Finisher(app, "celery@parent", observer=events)
    finisher.finish_lost(running_task("dead-2"), BUILT["lost"], "signal 9 (SIGKILL)")
    assert inherited.sent == []


def test_an_unknown_task_gets_celerys_task_failed(app: Celery) -> None:
    async def run() -> tuple[RecordingDispatcher, str]:
        transport = app.new_transport()
        await transport.open()
        settler = RecordingSettler(transport, app.backend)
        settler.start()
        held = HeldDeliveries(transport, settler, set())
        events = TaskEvents(app, enabled=True)
        dispatcher = RecordingDispatcher()
        events._consumers["celery@events"] = dispatcher  # type: ignore[assignment]
        finisher = Finisher(app, "celery@events", held, observer=events)
        intake = Intake(app, "celery@events", held, finisher, RevokedSet, Guarded(events))
        sent = app.send_task("not.here")
        (delivery,) = await transport.fetch(["celery"], 1, 5.0)
        assert intake.take(delivery) is None
        await settler.close()
        await transport.aclose()
        return dispatcher, sent.id

    dispatcher, task_id = asyncio.run(run())
    assert dispatcher.sent == [
        ("task-failed", {"uuid": task_id, "exception": "NotRegistered('not.here')"})
    ]


def test_observers_without_the_optional_hooks_still_work(app: Celery) -> None:
    class Minimal:
        def __init__(self) -> None:
            self.kinds: list[OutcomeKind] = []

        def received(self, job: Any) -> None:
            pass

        def started(self, job: Any) -> None:
            pass

        def finished(self, job: Any, outcome: Outcome) -> None:
            self.kinds.append(outcome.kind)

    minimal = Minimal()
    observers = Observers([minimal, None])

    async def run() -> None:
        observers.opened("celery@x")
        await observers.retrying(None, BUILT["lost"])  # type: ignore[arg-type]
        await observers.closing("celery@x")

    asyncio.run(run())
    observers.finished(running_task("x"), BUILT["lost"])
    assert minimal.kinds == [OutcomeKind.LOST]
