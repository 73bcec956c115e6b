"""Real Celery (kombu) and celeriac exchange events on one Redis, in-process, both ways."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events import EventDispatcher
from helpers.services import redis_keyspace

celery = pytest.importorskip("celery")

pytestmark = pytest.mark.timeout(60)


def _celery_app(url: str, prefix: str) -> Any:
    app = celery.Celery("interop", broker=url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": prefix}
    return app


def test_celerys_receiver_and_state_read_a_celeriac_dispatcher() -> None:
    with redis_keyspace("evi") as space:
        theirs = _celery_app(space.url, space.prefix)
        ours = Celery("t", broker=space.url, **space.settings)
        state = theirs.events.State()
        got: list[dict[str, Any]] = []
        ready = threading.Event()

        def on_event(event: dict[str, Any]) -> None:
            got.append(event)
            state.event(event)

        def capture() -> None:
            with theirs.connection_for_read() as connection:
                receiver = theirs.events.Receiver(connection, handlers={"*": on_event})
                # kombu PSUBSCRIBEs on the first poll, right after this hook
                receiver.on_consume_ready = lambda *args, **kwargs: ready.set()
                receiver.capture(limit=5, timeout=15, wakeup=False)

        thread = threading.Thread(target=capture, daemon=True)
        thread.start()
        assert ready.wait(15)
        time.sleep(0.5)

        async def send() -> None:
            dispatcher = EventDispatcher(ours, "celeriac@h", buffer_group=["task"])
            dispatcher.bind_loop()
            await dispatcher.asend("worker-online", freq=2.0, active=0, processed=0,
                                   loadavg=[0.1, 0.1, 0.1], sw_ident="celeriac",
                                   sw_ver="1", sw_sys="Linux")  # fmt: skip
            dispatcher.send("task-received", uuid="u1", name="tasks.add", args="(1, 2)",
                            kwargs="{}", root_id="u1", parent_id=None, retries=0,
                            eta=None, expires=None)  # fmt: skip
            dispatcher.send("task-started", uuid="u1")
            dispatcher.send("task-succeeded", uuid="u1", result="3", runtime=0.002)
            await dispatcher.aflush()
            await dispatcher.asend("worker-heartbeat", freq=2.0, active=0, processed=1,
                                   loadavg=[0.1, 0.1, 0.1], sw_ident="celeriac",
                                   sw_ver="1", sw_sys="Linux")  # fmt: skip

        asyncio.run(send())
        thread.join(20)
        ours.close()
    assert [e["type"] for e in got] == [
        "worker-online",
        "task-received",
        "task-started",
        "task-succeeded",
        "worker-heartbeat",
    ]
    task = state.tasks["u1"]
    assert task.state == "SUCCESS" and task.name == "tasks.add" and task.result == "3"
    assert task.worker.hostname == "celeriac@h"
    worker = state.workers["celeriac@h"]
    assert worker.alive and worker.processed == 1 and worker.sw_ident == "celeriac"


def test_celeriacs_receiver_and_state_read_a_celery_dispatcher() -> None:
    with redis_keyspace("evi") as space:
        theirs = _celery_app(space.url, space.prefix)
        ours = Celery("t", broker=space.url, **space.settings)
        state = ours.events.State()
        receiver = ours.events.Receiver(handlers={"*": state.event})

        def celery_sends() -> None:
            assert receiver.consuming.wait(15)  # our receiver listens first
            with theirs.connection_for_write() as connection:
                dispatcher = theirs.events.Dispatcher(
                    connection, hostname="celery@h", buffer_group=["task"]
                )
                dispatcher.send("worker-online", freq=2.0, active=0, processed=0)
                dispatcher.send("task-received", uuid="c1", name="tasks.mul", args="(2, 3)",
                                kwargs="{}", root_id="c1", parent_id=None, retries=0)  # fmt: skip
                dispatcher.send("task-failed", uuid="c1", exception="ValueError('x')",
                                traceback="Traceback ...")  # fmt: skip
                dispatcher.flush()  # one task.multi message with both
                dispatcher.close()

        thread = threading.Thread(target=celery_sends, daemon=True)
        thread.start()
        receiver.capture(limit=3, timeout=15, wakeup=False)
        thread.join(10)
        ours.close()
    task = state.tasks["c1"]
    assert task.state == "FAILURE" and task.name == "tasks.mul"
    assert task.exception == "ValueError('x')"
    assert "celery@h" in state.workers
