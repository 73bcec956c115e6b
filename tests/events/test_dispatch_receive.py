"""EventDispatcher → EventReceiver → State on every transport, and kombu's exact Redis layout."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events import EventDispatcher
from helpers.services import WITH_AMQP, AppFactory, redis_db, redis_keyspace
from helpers.vectors import load_vector

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """Also on RabbitMQ: the durable topic ``celeryev``, a receiver queue per receiver."""
    return str(request.param)


async def _collect(receiver: Any, count: int, started: asyncio.Event) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    events = receiver.aitercapture(limit=count, timeout=10, wakeup=False)
    first = asyncio.ensure_future(anext(events))
    while not receiver.consuming.is_set():  # the first anext subscribes
        await asyncio.sleep(0.01)
    started.set()
    got.append(await first)
    async for event in events:
        got.append(event)
    return got


def test_events_reach_a_receiver_and_a_state(make_app: AppFactory) -> None:
    app: Celery = make_app()
    state = app.events.State()
    receiver = app.events.Receiver(handlers={"*": state.event})

    async def scenario() -> list[dict[str, Any]]:
        started = asyncio.Event()
        collecting = asyncio.ensure_future(_collect(receiver, 5, started))
        await started.wait()
        dispatcher = EventDispatcher(app, "w1@host", buffer_group=["task"])
        dispatcher.bind_loop()
        await dispatcher.asend("worker-online", freq=2.0, active=0, processed=0)
        dispatcher.send("task-received", uuid="t1", name="add", args="(2, 2)", kwargs="{}")
        dispatcher.send("task-started", uuid="t1")
        dispatcher.send("task-succeeded", uuid="t1", result="4", runtime=0.01)
        await dispatcher.aflush()
        dispatcher.send("worker-heartbeat", freq=2.0, active=0, processed=1)  # sync path
        return await collecting

    got = asyncio.run(scenario())
    assert [e["type"] for e in got] == [
        "worker-online",
        "task-received",
        "task-started",
        "task-succeeded",
        "worker-heartbeat",
    ]
    assert all("local_received" in e and e["hostname"] == "w1@host" for e in got)
    clocks = [e["clock"] for e in got]
    assert clocks == sorted(clocks)
    task = state.tasks["t1"]
    assert task.state == "SUCCESS" and task.name == "add" and task.result == "4"
    assert state.workers["w1@host"].alive
    assert state.workers["w1@host"].processed == 1


def test_groups_filter_what_a_dispatcher_sends(make_app: AppFactory) -> None:
    app: Celery = make_app()
    receiver = app.events.Receiver()

    async def scenario() -> list[dict[str, Any]]:
        started = asyncio.Event()
        collecting = asyncio.ensure_future(_collect(receiver, 2, started))
        await started.wait()
        dispatcher = EventDispatcher(app, "w2@host", groups=["worker"])
        dispatcher.send("task-received", uuid="t1")  # not in the groups: dropped
        dispatcher.send("worker-heartbeat", freq=2.0)
        dispatcher.groups.add("task")  # what enable_events does
        dispatcher.send("task-started", uuid="t1")
        dispatcher.disable()
        dispatcher.send("worker-heartbeat", freq=2.0)  # disabled: dropped
        return await collecting

    got = asyncio.run(scenario())
    assert [e["type"] for e in got] == ["worker-heartbeat", "task-started"]


def test_a_binding_key_selects_routing_keys(make_app: AppFactory) -> None:
    app: Celery = make_app()
    receiver = app.events.Receiver(routing_key="worker.#")

    async def scenario() -> list[dict[str, Any]]:
        started = asyncio.Event()
        collecting = asyncio.ensure_future(_collect(receiver, 2, started))
        await started.wait()
        dispatcher = EventDispatcher(app, "w3@host")
        dispatcher.send("task-received", uuid="t1")
        dispatcher.send("worker-online", freq=2.0)
        dispatcher.send("task-started", uuid="t1")
        dispatcher.send("worker-offline", freq=2.0)
        return await collecting

    got = asyncio.run(scenario())
    assert [e["type"] for e in got] == ["worker-online", "worker-offline"]


def test_capture_is_sync_and_times_out_like_celery(make_app: AppFactory) -> None:
    app: Celery = make_app()
    seen: list[str] = []
    receiver = app.events.Receiver(handlers={"worker-heartbeat": lambda e: seen.append("hb")})
    stop = threading.Event()

    def send() -> None:
        dispatcher = EventDispatcher(app, "w4@host")
        while not stop.is_set():
            dispatcher.send("worker-heartbeat", freq=2.0)
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        receiver.capture(limit=3, timeout=10, wakeup=False)
        with app.connection() as connection:  # Celery's idiom, on the app's transport
            app.events.Receiver(connection, handlers={"*": lambda e: seen.append("*")}).capture(
                limit=1, timeout=10, wakeup=False
            )
    finally:
        stop.set()
        sender.join()
    assert seen == ["hb", "hb", "hb", "*"]
    with pytest.raises(TimeoutError):
        app.events.Receiver().capture(limit=1, timeout=0.5, wakeup=False)


def test_capture_refuses_a_running_loop(make_app: AppFactory) -> None:
    app: Celery = make_app()

    async def scenario() -> None:
        app.events.Receiver().capture(limit=1, timeout=0.1)

    with pytest.raises(RuntimeError, match="aitercapture"):
        asyncio.run(scenario())


def test_redis_events_use_kombus_channels_and_envelope() -> None:
    with redis_keyspace("ev") as space:
        app = Celery("t", broker=space.url, **space.settings)
        pubsub = space.client.pubsub()
        pubsub.psubscribe(f"{space.prefix}/{redis_db()}.celeryev/*")
        pubsub.get_message(timeout=1)
        dispatcher = EventDispatcher(app, "w@h")
        dispatcher.send("worker-heartbeat", freq=2.0, active=0)
        item = None
        for _ in range(20):
            item = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if item:
                break
        pubsub.close()
        app.close()
    assert item is not None
    assert item["channel"] == f"{space.prefix}/{redis_db()}.celeryev/worker.heartbeat".encode()
    envelope = json.loads(item["data"])
    assert envelope["headers"] == {"hostname": "w@h"}
    assert envelope["content-type"] == "application/json"
    properties = envelope["properties"]
    assert properties["delivery_mode"] == 1
    info = properties["delivery_info"]
    assert info == {"exchange": "celeryev", "routing_key": "worker.heartbeat"}
    body = json.loads(base64.b64decode(envelope["body"]))
    assert list(body)[:4] == ["hostname", "utcoffset", "pid", "clock"]
    assert list(body)[-2:] == ["timestamp", "type"]


def test_redis_receiver_reads_celerys_raw_published_messages() -> None:
    """Celery 5.7's captured PUBLISH payloads, replayed byte for byte on our channel."""
    data = load_vector("13-redis-events-task-lifecycle.json")
    raw = [m for m in data["messages"] if "raw_payload" in m]
    with redis_keyspace("ev") as space:
        app = Celery("t", broker=space.url, **space.settings)
        receiver = app.events.Receiver()

        async def scenario() -> list[dict[str, Any]]:
            started = asyncio.Event()
            count = sum(len(m["event_types_in_message"]) for m in raw)
            collecting = asyncio.ensure_future(_collect(receiver, count, started))
            await started.wait()
            for item in raw:
                channel = item["channel"].replace("/15.", f"{space.prefix}/{redis_db()}.", 1)
                space.client.publish(channel, item["raw_payload"])
            return await collecting

        got = asyncio.run(scenario())
        app.close()
    expected = [t for m in raw for t in m["event_types_in_message"]]
    assert [e["type"] for e in got] == expected


def test_a_batch_window_gathers_task_events_into_one_message(make_app: AppFactory) -> None:
    from celeriac.protocol.events import parse_event_message
    from celeriac.transports.contracts import Broadcast

    app: Celery = make_app()
    transport = app.new_transport()
    assert isinstance(transport, Broadcast)

    async def scenario() -> list[list[str]]:
        subscription = await transport.subscribe_fanout("celeryev", "#")
        await asyncio.sleep(0.2)
        dispatcher = EventDispatcher(
            app, "w@h", buffer_group=["task"], buffer_limit=4, buffer_window=0.3
        )
        dispatcher.bind_loop()
        for index in range(6):  # 4 fill a batch at once; 2 wait for the window
            dispatcher.send("task-started", uuid=f"t{index}")
            await asyncio.sleep(0)
        got: list[list[str]] = []
        while len(got) < 2:
            message = await subscription.get(5)
            assert message is not None
            assert message.properties["delivery_info"]["routing_key"] == "task.multi"
            got.append([e["uuid"] for e in parse_event_message(message)])
        await subscription.aclose()
        return got

    assert asyncio.run(scenario()) == [["t0", "t1", "t2", "t3"], ["t4", "t5"]]
