"""The transport contract, run against every broker (the ``transport`` fixture's kinds)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable

from celeriac.transports.base import Transport

from .conftest import TransportFactory, make_message, task_ids


async def test_publish_fetch_ack(transport: Transport) -> None:
    sent = make_message(1)
    transport.publish(sent, "celery")
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    assert delivery.message is not None
    assert delivery.message.body == sent.body
    assert delivery.message.headers == sent.headers
    assert delivery.message.properties["correlation_id"] == "task-1"
    assert delivery.queue == "celery"
    assert delivery.delivery_count == 1
    assert not delivery.redelivered
    assert delivery.error is None
    await transport.ack([delivery])
    assert transport.queue_length("celery") == 0
    assert await transport.fetch(["celery"], 10, 0.05) == []


async def test_fifo_within_a_priority(transport: Transport) -> None:
    for n in range(20):
        transport.publish(make_message(n), "celery")
    first = await transport.fetch(["celery"], 7, 1.0)
    rest = await transport.fetch(["celery"], 100, 1.0)
    assert task_ids(first + rest) == [f"task-{n}" for n in range(20)]
    await transport.ack(first + rest)


async def test_higher_priority_first(transport: Transport) -> None:
    for n, priority in enumerate([0, 5, 9, 5, 0, 3]):
        transport.publish(make_message(n), "celery", priority=priority)
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    assert task_ids(deliveries) == ["task-2", "task-1", "task-3", "task-5", "task-0", "task-4"]


async def test_eta_waits_in_the_broker(transport: Transport) -> None:
    eta = time.time() + 0.4
    transport.publish(make_message("later"), "celery", eta=eta)
    transport.publish(make_message("now"), "celery")
    assert transport.queue_length("celery") == 2
    first = await transport.fetch(["celery"], 10, 0.1)
    # A transport on kombu's Redis layout lists ETA messages as Celery does (so Celery
    # workers see them); the consumer that gets one early parks it in the broker.
    early = [d for d in first if task_ids([d]) == ["task-later"]]
    for delivery in early:
        assert await transport.defer(delivery, eta)
    assert task_ids([d for d in first if d not in early]) == ["task-now"]
    assert await transport.fetch(["celery"], 10, 0.1) == []
    deliveries = await transport.fetch(["celery"], 10, 3.0)
    assert time.time() >= eta
    assert time.time() < eta + 0.2
    assert task_ids(deliveries) == ["task-later"]


async def test_eta_in_the_past_is_ready(transport: Transport) -> None:
    transport.publish(make_message(1), "celery", eta=time.time() - 60)
    assert task_ids(await transport.fetch(["celery"], 10, 1.0)) == ["task-1"]


async def test_expired_lease_is_redelivered(transport_factory: TransportFactory) -> None:
    transport = transport_factory(visibility_timeout=0.2)
    transport.publish(make_message(1), "celery")
    [_first] = await transport.fetch(["celery"], 10, 1.0)
    assert await transport.fetch(["celery"], 10, 0.05) == []
    [again] = await transport.fetch(["celery"], 10, 2.0)
    assert again.message is not None and again.message.headers["id"] == "task-1"
    assert again.delivery_count == 2
    assert again.redelivered
    await transport.ack([again])
    assert await transport.fetch(["celery"], 10, 0.3) == []


async def test_renew_prevents_redelivery(transport_factory: TransportFactory) -> None:
    transport = transport_factory(visibility_timeout=0.3)
    transport.publish(make_message(1), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    for _ in range(6):
        await asyncio.sleep(0.1)
        await transport.renew(deliveries)
    assert await transport.fetch(["celery"], 10, 0.1) == []
    await transport.ack(deliveries)


async def test_requeue_counts_the_delivery(transport: Transport) -> None:
    transport.publish(make_message(1), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    await transport.requeue(deliveries, count=True)
    [again] = await transport.fetch(["celery"], 10, 1.0)
    assert again.delivery_count == 2


async def test_requeue_without_count_gives_back_unstarted_work(transport: Transport) -> None:
    for n in range(3):
        transport.publish(make_message(n), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    await transport.requeue(deliveries)
    again = await transport.fetch(["celery"], 10, 1.0)
    assert task_ids(again) == ["task-0", "task-1", "task-2"]
    assert [d.delivery_count for d in again] == [1, 1, 1]


async def test_requeue_wakes_a_waiting_fetch(transport: Transport) -> None:
    transport.publish(make_message(1), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    waiting = asyncio.create_task(transport.fetch(["celery"], 10, 3.0))
    await asyncio.sleep(0.05)
    start = time.monotonic()
    await transport.requeue(deliveries)
    assert task_ids(await waiting) == ["task-1"]
    assert time.monotonic() - start < 0.1


async def test_dead_letter_after_max_deliveries(transport_factory: TransportFactory) -> None:
    transport = transport_factory(max_deliveries=2)
    transport.publish(make_message(1, task="tasks.crash"), "celery")
    for expected in (1, 2):
        [delivery] = await transport.fetch(["celery"], 10, 1.0)
        assert delivery.delivery_count == expected
        await transport.requeue([delivery], count=True)
    assert await transport.fetch(["celery"], 10, 0.1) == []
    assert transport.queue_length("celery") == 0
    [dead] = transport.dead_letters()
    assert dead.reason == "delivered 2 times without an ack (task_max_deliveries=2)"
    assert dead.queue == "celery"
    assert dead.task_id == "task-1"
    assert dead.task_name == "tasks.crash"
    assert b"task-1" in dead.raw


async def test_dead_lettered_message_does_not_count_toward_limit(
    transport_factory: TransportFactory,
) -> None:
    transport = transport_factory(max_deliveries=1)
    transport.publish(make_message("doomed"), "celery")
    transport.publish(make_message("next"), "celery")
    [first] = await transport.fetch(["celery"], 1, 1.0)
    await transport.requeue([first], count=True)
    # The first message is over the limit: the fetch skips it and still fills the batch.
    assert task_ids(await transport.fetch(["celery"], 1, 1.0)) == ["task-next"]
    assert [d.task_id for d in transport.dead_letters()] == ["task-doomed"]


async def test_garbage_payload_is_delivered_with_an_error(
    transport: Transport, inject_raw: Callable[[str, bytes], None]
) -> None:
    garbage = b"\xff\x00 this is not an envelope"
    inject_raw("celery", garbage)
    [delivery] = await transport.fetch(["celery"], 10, 1.0)
    assert delivery.message is None
    assert delivery.raw == garbage
    assert delivery.error
    await transport.dead_letter(delivery, f"undecodable message: {delivery.error}")
    [dead] = transport.dead_letters()
    assert dead.raw == garbage
    assert dead.reason.startswith("undecodable message: ")
    assert dead.task_id is None
    assert transport.queue_length("celery") == 0


async def test_dead_letter_records_the_reason(transport_factory: TransportFactory) -> None:
    transport = transport_factory(visibility_timeout=0.2)
    transport.publish(make_message(7, task="tasks.unknown"), "jobs")
    [delivery] = await transport.fetch(["jobs"], 10, 1.0)
    before = time.time()
    await transport.dead_letter(delivery, "Received unregistered task of type 'tasks.unknown'")
    [dead] = transport.dead_letters()
    assert dead.reason == "Received unregistered task of type 'tasks.unknown'"
    assert (dead.queue, dead.task_id, dead.task_name) == ("jobs", "task-7", "tasks.unknown")
    assert before - 1 <= dead.created_at <= time.time() + 1
    # The lease is gone for good: nothing comes back after the visibility timeout.
    assert await transport.fetch(["jobs"], 10, 0.4) == []


async def test_dead_letters_newest_last_and_limited(transport: Transport) -> None:
    for n in range(5):
        transport.publish(make_message(n), "celery")
    for delivery in await transport.fetch(["celery"], 10, 1.0):
        await transport.dead_letter(delivery, f"reason {delivery.tag}")
    dead = transport.dead_letters(limit=3)
    assert [d.task_id for d in dead] == ["task-2", "task-3", "task-4"]


async def test_queue_length_and_purge(transport: Transport) -> None:
    for n in range(3):
        transport.publish(make_message(n), "celery")
    transport.publish(make_message("eta"), "celery", eta=time.time() + 60)
    transport.publish(make_message("other"), "other")
    assert transport.queue_length("celery") == 4
    leased = await transport.fetch(["celery"], 1, 1.0)
    assert transport.queue_length("celery") == 3
    assert transport.purge("celery") == 3
    assert transport.queue_length("celery") == 0
    assert transport.queue_length("other") == 1
    assert transport.queue_length("nothing-here") == 0
    await transport.ack(leased)
    assert await transport.fetch(["celery"], 10, 0.05) == []


async def test_queues_are_taken_in_the_given_order(transport: Transport) -> None:
    transport.publish(make_message("b1"), "b")
    transport.publish(make_message("a1"), "a", priority=0)
    transport.publish(make_message("b2"), "b", priority=9)
    transport.publish(make_message("a2"), "a")
    assert task_ids(await transport.fetch(["a", "b"], 1, 1.0)) == ["task-a1"]
    assert task_ids(await transport.fetch(["a", "b"], 10, 1.0)) == ["task-a2", "task-b2", "task-b1"]


async def test_fetch_respects_the_limit(transport: Transport) -> None:
    for n in range(10):
        transport.publish(make_message(n), "celery")
    batch = await transport.fetch(["celery"], 4, 1.0)
    assert len(batch) == 4
    assert transport.queue_length("celery") == 6


async def test_fetch_times_out_empty(transport: Transport) -> None:
    start = time.monotonic()
    assert await transport.fetch(["celery"], 10, 0.3) == []
    elapsed = time.monotonic() - start
    assert 0.28 <= elapsed < 0.6


async def test_fetch_with_zero_timeout_does_not_wait(transport: Transport) -> None:
    start = time.monotonic()
    assert await transport.fetch(["celery"], 10, 0) == []
    assert time.monotonic() - start < 0.1
    transport.publish(make_message(1), "celery")
    assert task_ids(await transport.fetch(["celery"], 10, 0)) == ["task-1"]


async def test_ack_and_requeue_take_batches(transport: Transport) -> None:
    for n in range(50):
        transport.publish(make_message(n), "celery")
    deliveries = await transport.fetch(["celery"], 50, 1.0)
    await transport.requeue(deliveries[25:])
    await transport.ack(deliveries[:25])
    rest = await transport.fetch(["celery"], 50, 1.0)
    assert task_ids(rest) == [f"task-{n}" for n in range(25, 50)]
    await transport.ack(rest)
    assert transport.queue_length("celery") == 0


async def test_recover_gives_back_a_dead_consumers_leases(
    transport_factory: TransportFactory,
) -> None:
    worker, survivor = transport_factory(), transport_factory()
    for n in range(3):
        worker.publish(make_message(n), "celery")
    taken = await worker.fetch(["celery"], 10, 1.0)
    assert len(taken) == 3
    assert await survivor.fetch(["celery"], 10, 0.05) == []
    assert await survivor.recover(worker.consumer_id) == 3
    again = await survivor.fetch(["celery"], 10, 1.0)
    assert task_ids(again) == ["task-0", "task-1", "task-2"]
    assert [d.delivery_count for d in again] == [2, 2, 2]


async def _wake_up_latency(consumer: Transport, producer: Transport, gap: float) -> float:
    sent: list[float] = []

    def publish_later() -> None:
        time.sleep(gap)
        sent.append(time.monotonic())
        producer.publish(make_message("wake"), "celery")

    thread = threading.Thread(target=publish_later)
    thread.start()
    deliveries = await consumer.fetch(["celery"], 10, 5.0)
    received = time.monotonic()
    thread.join()
    assert task_ids(deliveries) == ["task-wake"]
    await consumer.ack(deliveries)
    return received - sent[0]


async def test_fetch_wakes_when_a_thread_publishes(transport: Transport) -> None:
    latencies = [await _wake_up_latency(transport, transport, 0.1) for _ in range(3)]
    assert statistics.median(latencies) < 0.05, latencies


async def test_fetch_wakes_when_another_connection_publishes(
    transport_factory: TransportFactory,
) -> None:
    consumer, producer = transport_factory(), transport_factory()
    latencies = [await _wake_up_latency(consumer, producer, 0.3) for _ in range(3)]
    assert statistics.median(latencies) < 0.05, latencies


async def test_apublish(transport: Transport) -> None:
    await transport.apublish(make_message(1), "celery", priority=3)
    await transport.apublish(make_message(2), "celery", priority=4)
    assert task_ids(await transport.fetch(["celery"], 10, 1.0)) == ["task-2", "task-1"]


async def test_cancelled_fetch_loses_nothing(transport: Transport) -> None:
    """A fetch cancelled at any moment (a worker shutting down) leaves no message leased."""
    for n in range(20):
        transport.publish(make_message(n), "celery")
        task = asyncio.create_task(transport.fetch(["celery"], 10, 1.0))
        for _ in range(n % 4):
            await asyncio.sleep(0)
        await asyncio.sleep(n // 4 * 0.0001)
        task.cancel()
        try:
            taken = await task
        except asyncio.CancelledError:
            taken = []
        else:
            await transport.ack(taken)
        if not taken:
            [delivery] = await transport.fetch(["celery"], 10, 1.0)
            assert delivery.delivery_count == 1
            await transport.ack([delivery])
    assert transport.queue_length("celery") == 0


async def test_many_producer_threads_while_consuming(transport: Transport) -> None:
    def produce(start: int) -> None:
        for n in range(start, start + 250):
            transport.publish(make_message(n), "celery")

    threads = [threading.Thread(target=produce, args=(i * 250,)) for i in range(4)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while len(seen) < 1000 and time.monotonic() < deadline:
        deliveries = await transport.fetch(["celery"], 64, 0.5)
        seen += task_ids(deliveries)
        await transport.ack(deliveries)
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(f"task-{n}" for n in range(1000))
