"""The DeadLetters capability on every broker: list by queue, requeue and discard by id."""

from __future__ import annotations

import time

from celeriac.transports.base import Transport
from celeriac.transports.contracts import DeadLetters

from .conftest import make_message, task_ids


async def _bury(transport: Transport, queue: str, *names: str) -> None:
    """Publish ``task-<name>`` messages on ``queue`` and dead-letter each with a reason."""
    for name in names:
        transport.publish(make_message(name), queue)
    deliveries = await transport.fetch([queue], len(names), 1.0)
    assert sorted(task_ids(deliveries)) == sorted(f"task-{n}" for n in names)
    for delivery in deliveries:
        await transport.dead_letter(delivery, f"reason for {delivery.message.headers['id']}")


def _store(transport: Transport) -> DeadLetters:
    assert isinstance(transport, DeadLetters)
    return transport


async def test_listed_with_ids_and_reasons_by_queue(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "celery", "a1")
    await _bury(transport, "jobs", "b1")
    await _bury(transport, "celery", "a2")
    every = store.list_dead_letters()
    assert [d.task_id for d in every] == ["task-a1", "task-b1", "task-a2"]
    assert all(d.id for d in every) and len({d.id for d in every}) == 3
    assert every[0].reason == "reason for task-a1" and every[0].queue == "celery"
    assert [d.task_id for d in store.list_dead_letters("celery")] == ["task-a1", "task-a2"]
    assert [d.task_id for d in store.list_dead_letters("jobs")] == ["task-b1"]
    assert [d.task_id for d in store.list_dead_letters("celery", limit=1)] == ["task-a2"]
    assert store.list_dead_letters("nothing-here") == []
    assert store.list_dead_letters(limit=0) == []
    # The ids stay the same while the entries wait.
    assert [d.id for d in store.list_dead_letters()] == [d.id for d in every]


async def test_requeue_puts_the_message_back_on_its_queue(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "jobs", "x", "y")
    letters = {d.task_id: d for d in store.list_dead_letters()}
    assert transport.queue_length("jobs") == 0
    assert store.requeue_dead_letters([letters["task-x"].id]) == 1
    [delivery] = await transport.fetch(["jobs"], 10, 2.0)
    assert delivery.message is not None
    assert delivery.message.headers["id"] == "task-x"
    assert delivery.message.body == make_message("x").body
    assert delivery.delivery_count == 1  # counted afresh
    await transport.ack([delivery])
    assert [d.task_id for d in store.list_dead_letters()] == ["task-y"]
    # Requeued once: asking again (another dashboard, a double click) does nothing.
    assert store.requeue_dead_letters([letters["task-x"].id]) == 0
    assert await transport.fetch(["jobs"], 10, 0.2) == []


async def test_requeue_several_and_dead_letter_again(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "celery", "1", "2", "3")
    ids = [d.id for d in store.list_dead_letters()]
    assert store.requeue_dead_letters(ids) == 3
    assert store.list_dead_letters() == []
    deliveries = await transport.fetch(["celery"], 10, 2.0)
    if len(deliveries) < 3:
        deliveries += await transport.fetch(["celery"], 10, 1.0)
    assert sorted(task_ids(deliveries)) == ["task-1", "task-2", "task-3"]
    # A requeued message that fails again is dead-lettered again, with the new reason.
    [first, *rest] = deliveries
    await transport.dead_letter(first, "again")
    await transport.ack(rest)
    [letter] = store.list_dead_letters()
    assert letter.reason == "again" and letter.queue == "celery"


async def test_discard_removes_only_the_ids_given(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "celery", "keep", "drop")
    letters = {d.task_id: d for d in store.list_dead_letters()}
    assert store.discard_dead_letters([letters["task-drop"].id]) == 1
    assert [d.task_id for d in store.list_dead_letters()] == ["task-keep"]
    assert store.discard_dead_letters([letters["task-drop"].id]) == 0
    assert transport.queue_length("celery") == 0
    assert await transport.fetch(["celery"], 10, 0.1) == []


async def test_unknown_or_malformed_ids_are_ignored(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "celery", "only")
    for ids in ([], ["nope"], ["0-0"], ["999999"], ["'; DROP TABLE x; --"], ["-1"]):
        assert store.requeue_dead_letters(ids) == 0
        assert store.discard_dead_letters(ids) == 0
    assert [d.task_id for d in store.list_dead_letters()] == ["task-only"]


async def test_dead_letters_of_admin_carry_the_same_ids(transport: Transport) -> None:
    store = _store(transport)
    await _bury(transport, "celery", "p", "q")
    before = time.time()
    assert [d.id for d in transport.dead_letters()] == [d.id for d in store.list_dead_letters()]
    assert all(d.created_at <= before + 1 for d in transport.dead_letters())
