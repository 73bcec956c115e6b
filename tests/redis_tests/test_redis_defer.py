"""ETA messages on Redis: listed like Celery's, parked in the ETA set by a celeriac consumer."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from celeriac.protocol.task_message import TaskMessage, decode, encode
from celeriac.transports.redis import RedisTransport


async def test_eta_message_is_listed_then_parked_until_due(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    transport = make_transport()
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    message = encode(
        TaskMessage(
            id="eta-1",
            name="tasks.add",
            args=[1, 2],
            eta=due,
            delivery_info={"exchange": "", "routing_key": "q"},
        )
    )
    transport.publish(message, "q", eta=due.timestamp())
    # Celery-compatible: the message is on the queue's list, not only in our ETA set.
    assert transport.queue_length("q") == 1

    [early] = await transport.fetch(["q"], 10, 1.0)
    assert decode(early.message).eta is not None
    assert await transport.defer(early, due.timestamp())
    # Parked: nothing to fetch before it is due, and the lease and count are gone.
    assert await transport.fetch(["q"], 10, 0.3) == []
    assert transport.queue_length("q") == 1

    deliveries: list = []
    deadline = time.monotonic() + 5
    while not deliveries and time.monotonic() < deadline:
        deliveries = await transport.fetch(["q"], 10, 0.5)
    assert [d.message.headers["id"] for d in deliveries] == ["eta-1"]
    assert time.time() >= due.timestamp() - 0.05
    assert deliveries[0].delivery_count == 1  # parking did not count as a delivery
    await transport.ack(deliveries)
    await transport.aclose()


async def test_defer_refuses_a_lease_it_does_not_hold(
    make_transport: Callable[..., RedisTransport], prefix: str
) -> None:
    owner, other = make_transport(), make_transport()
    message = encode(
        TaskMessage(
            id="eta-2",
            name="tasks.add",
            args=[1, 2],
            delivery_info={"exchange": "", "routing_key": "q"},
        )
    )
    owner.publish(message, "q")
    [delivery] = await owner.fetch(["q"], 1, 1.0)
    assert not await other.defer(delivery, time.time() + 60)
    await owner.ack([delivery])
    await owner.aclose()
    await other.aclose()
