"""The bottom of the stack: a TaskMessage and the Context built from it agree field by field,
and call options resolve as "call option > task attribute > setting"."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from celeriac.config.settings import Settings
from celeriac.execution.options import UNSET, CallOptions, resolve, sent_time_limits
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.execution.request import (
    DELIVERY_ONLY,
    EXECUTION_ONLY,
    Context,
    context_from_message,
)
from celeriac.protocol.task_message import TaskMessage

#: TaskMessage field -> the Context field it becomes (the same name unless listed here).
RENAMED = {"name": "task", "time_limit": "timelimit", "soft_time_limit": "timelimit"}
#: TaskMessage fields a Context does not carry: wire details of one encoding.
WIRE_ONLY = {"lang", "delivery_mode", "protocol"}

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _distinct_message() -> TaskMessage:
    """A message whose every field holds a value of its own (no defaults)."""
    return TaskMessage(
        id="id-1",
        name="tasks.add",
        args=[1, 2],
        kwargs={"k": "v"},
        callbacks=[{"task": "cb"}],
        errbacks=[{"task": "eb"}],
        chain=[{"task": "next"}],
        chord={"task": "body"},
        lang="js",
        shadow="alias",
        eta=NOW,
        expires=NOW + dt.timedelta(hours=1),
        group="g",
        group_index=3,
        retries=4,
        time_limit=30.0,
        soft_time_limit=20.0,
        root_id="root",
        parent_id="parent",
        argsrepr="(1, 2)",
        kwargsrepr="{'k': 'v'}",
        origin="gen1@host",
        ignore_result=True,
        replaced_task_nesting=2,
        stamped_headers=["s"],
        stamps={"s": "v"},
        headers={"x-custom": "c"},
        correlation_id="corr",
        reply_to="reply",
        priority=7,
        delivery_mode=1,
        delivery_info={"exchange": "ex", "routing_key": "rk"},
        properties={"delivery_tag": "tag-1"},
        protocol=1,
    )


def test_every_field_is_mapped_one_way_or_the_other() -> None:
    message_fields = {field.name for field in dataclasses.fields(TaskMessage)}
    context_fields = {field.name for field in dataclasses.fields(Context)}
    carried = message_fields - WIRE_ONLY
    local = DELIVERY_ONLY | EXECUTION_ONLY
    assert {RENAMED.get(name, name) for name in carried} | local == context_fields
    assert not (WIRE_ONLY & context_fields)
    assert not (local & message_fields)
    assert not (DELIVERY_ONLY & EXECUTION_ONLY)


def test_the_context_carries_every_message_field() -> None:
    message = _distinct_message()
    context = context_from_message(
        message, hostname="w@h", queue="q", redelivered=True, delivery_count=2
    )
    for field in dataclasses.fields(TaskMessage):
        name = field.name
        if name in WIRE_ONLY or name in RENAMED or name == "delivery_info":
            continue
        assert getattr(context, name) == getattr(message, name), name
    assert context.task == message.name
    assert context.timelimit == (message.time_limit, message.soft_time_limit)
    # delivery_info: the message's, plus what the delivery adds
    assert context.delivery_info == {
        "exchange": "ex",
        "routing_key": "rk",
        "redelivered": True,
        "priority": 7,
    }
    assert (context.hostname, context.delivery_count) == ("w@h", 2)
    assert (context.is_eager, context.called_directly) == (False, False)
    assert context.delivery_tag == "tag-1"


def test_eager_and_worker_contexts_differ_only_in_delivery_fields() -> None:
    message = dataclasses.replace(_distinct_message(), delivery_info={})
    worker = context_from_message(message, hostname="w@h", queue="q")
    eager = context_from_message(message, is_eager=True)
    differing = {
        field.name
        for field in dataclasses.fields(Context)
        if getattr(worker, field.name) != getattr(eager, field.name)
    }
    assert differing <= DELIVERY_ONLY | {"delivery_info"}
    assert eager.delivery_info == {"is_eager": True, "priority": 7}
    assert worker.delivery_info == {"routing_key": "q", "redelivered": False, "priority": 7}


class _Task:
    time_limit: float | None = 10.0
    soft_time_limit: float | None = None
    ignore_result: bool | None = None
    priority: int | None = None
    serializer: str | None = "msgpack"
    compression: str | None = None
    expires: float | None = None
    acks_late: bool | None = False
    reject_on_worker_lost: bool | None = None
    track_started: bool | None = None


def test_resolve_call_over_task_over_setting() -> None:
    conf = Settings(task_time_limit=60, task_soft_time_limit=50, task_acks_late=True)
    task = _Task()
    resolved = resolve(CallOptions(), task, conf)
    assert (resolved.time_limit, resolved.soft_time_limit) == (10.0, 50)
    assert (resolved.serializer, resolved.acks_late) == ("msgpack", False)
    given = resolve(CallOptions(time_limit=0, serializer="json", ignore_result=False), task, conf)
    assert (given.time_limit, given.serializer, given.ignore_result) == (0, "json", False)
    unknown = resolve(CallOptions(), None, conf)  # send_task by name
    assert (unknown.time_limit, unknown.serializer, unknown.acks_late) == (60, "json", True)
    assert sent_time_limits(CallOptions(), task) == (10.0, None)  # settings are not sent
    assert sent_time_limits(CallOptions(time_limit=0), task) == (0, None)


def test_call_options_from_apply_async_options() -> None:
    options = CallOptions.from_options({"time_limit": 0, "priority": None, "expires": 5})
    assert options.time_limit == 0
    assert options.priority is UNSET  # None means "not given", as in Celery
    assert options.expires == 5
    with pytest.raises(TypeError, match="time_limit"):
        CallOptions.from_options({"time_limit": "soon"})


def test_outcome_states_keep_celerys_names() -> None:
    assert Outcome(OutcomeKind.SUCCESS).state == "SUCCESS"
    assert Outcome(OutcomeKind.TIME_LIMIT).state == "FAILURE"
    assert Outcome(OutcomeKind.EXPIRED).state == "REVOKED"
    assert Outcome(OutcomeKind.IGNORED).state == "IGNORED"
    assert OutcomeKind.RETRY == "RETRY"
