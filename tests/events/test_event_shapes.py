"""Event dicts and messages against Celery 5.7's captures (vectors 10, 13, 19), and the State
that Celery's own event stream builds."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.events import EventReceiver, State
from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.events import (
    adjust_timestamp,
    build_event_message,
    event,
    group_from,
    parse_event_message,
    routing_key_for,
    utcoffset,
)
from helpers.vectors import load_vector


def _vector_bodies(name: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(channel, decoded body, envelope) of every event message in a Redis capture."""
    data = load_vector(name)
    items = data.get("events") or data.get("messages") or []
    return [(m["channel"], m["decoded_body"], m["envelope"]) for m in items]


def _all_events(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _, body, _ in _vector_bodies(name):
        found.extend(body if isinstance(body, list) else [body])
    return found


def test_routing_keys_and_groups_are_celerys() -> None:
    assert routing_key_for("task-succeeded") == "task.succeeded"
    assert routing_key_for("worker-heartbeat") == "worker.heartbeat"
    assert group_from("task-sent") == "task"
    assert group_from("custom-my-event") == "custom"


def test_an_event_has_celerys_fields_in_celerys_order() -> None:
    [captured] = [e for e in _all_events("10-redis-events.json") if e["type"] == "worker-online"]
    fields = {k: captured[k] for k in ("freq", "active", "processed", "loadavg")}
    fields |= {k: captured[k] for k in ("sw_ident", "sw_ver", "sw_sys")}
    built = event(
        "worker-online",
        fields,
        hostname=captured["hostname"],
        pid=captured["pid"],
        clock=captured["clock"],
        offset=captured["utcoffset"],
        timestamp=captured["timestamp"],
    )
    assert list(built) == list(captured)
    assert built == captured
    assert json.dumps(built) == json.dumps(captured)


def test_task_events_keep_the_captured_field_order() -> None:
    captured = {e["type"]: e for e in _all_events("13-redis-events-task-lifecycle.json")}
    received = captured["task-received"]
    own = {k: v for k, v in received.items() if k not in _COMMON}
    built = event(
        "task-received",
        own,
        hostname=received["hostname"],
        pid=received["pid"],
        clock=received["clock"],
        offset=0.0,
        timestamp=received["timestamp"],
    )
    assert list(built) == list(received)


_COMMON = {"hostname", "utcoffset", "pid", "clock", "timestamp", "type"}


def test_messages_carry_celerys_headers_and_properties() -> None:
    body = event("worker-heartbeat", {"freq": 2.0}, hostname="w@h", pid=1, clock=3)
    message = build_event_message(body, hostname="w@h")
    assert message.headers == {"hostname": "w@h"}
    assert message.properties == {"delivery_mode": 1, "priority": 0}
    assert message.content_type == "application/json"
    assert parse_event_message(message) == [body]
    batch = build_event_message([body, body], hostname="w@h")
    assert parse_event_message(batch) == [body, body]


@pytest.mark.parametrize("name", ["10-redis-events.json", "13-redis-events-task-lifecycle.json"])
def test_celerys_captured_messages_decode(name: str) -> None:
    data = load_vector(name)
    raw = [m for m in data.get("events") or data["messages"] if "raw_payload" in m]
    assert len(raw) >= 3
    for item in raw:
        channel, body, envelope = item["channel"], item["decoded_body"], item["envelope"]
        message = loads_envelope(item["raw_payload"])
        events = parse_event_message(message, ["json"])
        assert events == (body if isinstance(body, list) else [body])
        routing_key = channel.split("/", 2)[2]
        assert envelope["properties"]["delivery_info"]["routing_key"] == routing_key
        if not isinstance(body, list):
            assert routing_key == routing_key_for(body["type"])
        else:
            assert routing_key == f"{group_from(body[0]['type'])}.multi"


def test_utcoffset_is_hours_west_and_timestamps_move_into_local_time() -> None:
    offset = utcoffset()
    assert isinstance(offset, float)
    assert offset == float((time.altzone if time.localtime().tm_isdst else time.timezone) // 3600)
    # An event from New York (5 h west) read in UTC: 5 hours later on our clock.
    assert adjust_timestamp(1000.0, 5, here=0) == 1000.0 - 5 * 3600
    assert adjust_timestamp(1000.0, 0, here=0) == 1000.0


def _replay(name: str, app: Celery) -> State:
    state = State()
    receiver = EventReceiver(app, handlers={"*": state.event})
    for body in _all_events(name):
        type_, localized = receiver.event_from_message(dict(body))
        receiver.process(type_, localized)
    return state


def test_state_follows_a_celery_workers_captured_events() -> None:
    app = Celery("replay", broker="memory://replay-10")
    state = _replay("10-redis-events.json", app)
    # worker-offline came last: the node is gone from the workers.
    assert "w1@celeriac-test" not in state.workers
    tasks = {task.name: task for _, task in state.tasks_by_time()}
    add = tasks["tasks.add"]
    assert add.state == states.SUCCESS
    assert add.result is not None
    assert add.runtime is not None and add.runtime > 0
    assert add.received is not None and add.started is not None and add.succeeded is not None
    assert add.worker is not None and add.worker.hostname == "w1@celeriac-test"
    fail = tasks["tasks.fail"]
    assert fail.state == states.FAILURE
    assert fail.exception is not None and fail.exception.startswith("ValueError(")
    assert "Traceback" in (fail.traceback or "")
    received = [e for e in _all_events("10-redis-events.json") if e["type"] == "task-received"]
    assert state.task_count == len(received)  # a retried task is received again
    assert {"tasks.add", "tasks.fail"} <= set(state.task_types())
    assert state.event_count == len(_all_events("10-redis-events.json"))


def test_state_from_the_lifecycle_capture_has_every_final_state() -> None:
    data = load_vector("13-redis-events-task-lifecycle.json")
    app = Celery("replay", broker="memory://replay-13")
    state = _replay("13-redis-events-task-lifecycle.json", app)
    ids = data["ids"]
    assert state.tasks[ids["extended_success"]].state == states.SUCCESS
    assert state.tasks[ids["extended_success"]].client is not None  # from task-sent
    assert state.tasks[ids["extended_failure"]].state == states.FAILURE
    assert state.tasks[ids["expired"]].state == states.REVOKED
    assert state.tasks[ids["expired"]].expired is True  # type: ignore[attr-defined]
    rejected = state.tasks[ids["rejected"]]
    assert rejected.rejected is not None


def test_a_late_received_event_fills_in_but_does_not_undo_success() -> None:
    state = State()
    now = time.time()
    base = {"hostname": "w@h", "uuid": "t1", "local_received": now, "clock": 1}
    state.event({**base, "type": "task-succeeded", "result": "4", "timestamp": now})
    state.event(
        {**base, "type": "task-received", "name": "add", "args": "(2, 2)", "timestamp": now - 1}
    )
    task = state.tasks["t1"]
    assert task.state == states.SUCCESS
    assert task.name == "add" and task.args == "(2, 2)"
    assert task.result == "4"


def test_workers_are_alive_while_heartbeats_are_recent() -> None:
    state = State()
    now = time.time()
    beat = {"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "pid": 7}
    state.event({**beat, "timestamp": now, "local_received": now})
    worker = state.workers["w@h"]
    assert worker.alive and worker.status_string == "ONLINE"
    assert [w.hostname for w in state.alive_workers()] == ["w@h"]
    assert worker.id == "w@h.7"
    worker.heartbeats[:] = [now - 5]  # older than freq x 2
    assert not worker.alive
    assert state.alive_workers() == []
    state.event({**beat, "type": "worker-offline", "timestamp": now, "local_received": now})
    assert "w@h" not in state.workers


def test_children_link_to_parents_in_either_order_and_lru_bounds_tasks() -> None:
    state = State(max_tasks_in_memory=3)
    now = time.time()

    def received(uuid: str, parent: str | None) -> None:
        state.event(
            {
                "type": "task-received",
                "uuid": uuid,
                "name": "t",
                "parent_id": parent,
                "hostname": "w@h",
                "timestamp": now,
                "local_received": now,
                "clock": 1,
            }
        )

    received("child", "parent")
    received("parent", None)
    assert [c.uuid for c in state.tasks["parent"].children] == ["child"]
    assert state.tasks["child"].parent is state.tasks["parent"]
    for index in range(5):
        received(f"more{index}", None)
    assert len(state.tasks) == 3
    assert [u for u, _ in state.tasks_by_time()] == ["more4", "more3", "more2"]
    assert [u for u, _ in state.tasks_by_type("t", limit=2)] == ["more4", "more3"]
    assert {t.uuid for t in state.tasks_by_worker["w@h"]} == {"more2", "more3", "more4"}
