"""What only the in-process broker promises: shared by name, prompt thread wake-ups."""

from __future__ import annotations

import statistics
import threading
import time
import uuid

from celeriac.transports.memory import MemoryTransport

from .conftest import make_message, task_ids


async def test_same_name_shares_one_broker() -> None:
    name = f"memory://shared-{uuid.uuid4().hex}"
    producer, consumer = MemoryTransport(name), MemoryTransport(name)
    other = MemoryTransport(f"memory://other-{uuid.uuid4().hex}")
    producer.publish(make_message(1), "celery")
    assert other.queue_length("celery") == 0
    assert task_ids(await consumer.fetch(["celery"], 10, 1.0)) == ["task-1"]


async def test_thread_publish_wakes_fetch_within_5ms() -> None:
    transport = MemoryTransport(f"memory://wake-{uuid.uuid4().hex}")
    latencies = []
    for n in range(5):
        sent: list[float] = []

        def publish(n: int = n, sent: list[float] = sent) -> None:
            time.sleep(0.05)
            sent.append(time.monotonic())
            transport.publish(make_message(n), "celery")

        thread = threading.Thread(target=publish)
        thread.start()
        deliveries = await transport.fetch(["celery"], 10, 5.0)
        latencies.append(time.monotonic() - sent[0])
        thread.join()
        assert task_ids(deliveries) == [f"task-{n}"]
    assert statistics.median(latencies) < 0.005, latencies


async def test_waiting_fetch_does_not_spin() -> None:
    transport = MemoryTransport(f"memory://idle-{uuid.uuid4().hex}")
    transport.publish(make_message("eta"), "celery", eta=time.time() + 0.5)
    cpu = time.process_time()
    assert await transport.fetch(["other"], 10, 0.4) == []
    assert task_ids(await transport.fetch(["celery"], 10, 2.0)) == ["task-eta"]
    assert time.process_time() - cpu < 0.05


def test_flags() -> None:
    assert not MemoryTransport.crosses_processes
    assert MemoryTransport("memory://").consumer_id.count(":") >= 2
