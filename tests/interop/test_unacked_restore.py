"""A worker SIGKILLed holding an ``acks_late`` task: a worker of the other kind restores it.

Both sides keep kombu's ``unacked`` hash / ``unacked_index`` sorted set, so whoever finds
a lease older than its ``visibility_timeout`` puts the message back on the queue.
"""

from __future__ import annotations

import json

import kombu
import pytest

from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def interop_broker() -> str:
    """kombu's Redis ack emulation: Redis only (tests/interop/test_amqp_redelivery.py
    covers RabbitMQ, which redelivers a dead worker's messages itself)."""
    return "redis"


def _hang_log(interop: Interop) -> list[list[str]]:
    return [
        line.decode().split()
        for line in interop.client.lrange(interop.key("interop.hang.log"), 0, -1)
    ]


def _held_tags(interop: Interop) -> list[str]:
    return [tag.decode() for tag in interop.client.hkeys(interop.key("unacked"))]


@pytest.mark.parametrize(
    ("holder", "producer", "rescuer"),
    [("celeriac", "celeriac", "celery"), ("celery", "celery", "celeriac")],
    ids=["celeriac-killed-celery-restores", "celery-killed-celeriac-restores"],
)
def test_killed_workers_acks_late_task_is_restored_by_the_other(
    interop: Interop, holder: str, producer: str, rescuer: str
) -> None:
    first = interop.start_worker(holder, "prefork", 1)
    result = interop.tasks(producer).hang.delay(60)
    interop.wait(lambda: len(_hang_log(interop)) >= 1, what=f"{holder} to start the task")
    [(impl, _pid, runs, _redelivered)] = _hang_log(interop)
    assert (impl, runs) == (holder, "1")

    # The running task's message is in kombu's ack emulation keys, not on the queue.
    [tag] = interop.wait(lambda: _held_tags(interop), what="the lease in 'unacked'")
    record = json.loads(interop.client.hget(interop.key("unacked"), tag))
    envelope, exchange, routing_key = record
    assert envelope["headers"]["id"] == result.id
    assert (exchange, routing_key) == ("", interop.queue)
    assert interop.client.zscore(interop.key("unacked_index"), tag) is not None

    first.kill()  # SIGKILL the whole process group: no shutdown restore, no ack
    assert _held_tags(interop) == [tag]
    assert interop.client.llen(interop.key(interop.queue)) == 0

    # Celery's solo pool here (prefork holds above and in the lease test below)
    pool = "solo" if rescuer == "celery" else "prefork"
    interop.start_worker(rescuer, pool, 1, visibility_timeout=2)
    assert result.get(timeout=30) == 2
    log = _hang_log(interop)
    assert [(impl, runs) for impl, _pid, runs, _ in log] == [(holder, "1"), (rescuer, "2")]
    if rescuer == "celery":  # celeriac's side: test_celeriac_marks_a_kombu_restored_task_...
        assert log[1][3] == "True", "the restored message should be flagged redelivered"
    interop.wait(lambda: not _held_tags(interop), timeout=10, what="the rescuer to ack")
    assert interop.client.zcard(interop.key("unacked_index")) == 0


def test_celeriac_marks_a_kombu_restored_task_redelivered(interop: Interop) -> None:
    """What a Celery worker's death plus restore leaves behind, run by a celeriac worker."""
    result = interop.tasks("celery").hang.delay(0)
    options = {"global_keyprefix": interop.prefix}
    with kombu.Connection(interop.url, transport_options=options) as conn:
        channel = conn.channel()
        taken = channel.basic_get(interop.queue, no_ack=False)  # a Celery worker takes it
        assert taken.headers["id"] == result.id
        channel.qos._delivered.clear()  # ... and is SIGKILLed: no shutdown restore
        channel.qos.restore_by_tag(taken.delivery_tag)  # kombu's visibility-timeout restore
        channel.close()
    interop.start_worker("celeriac", "threads", 1)
    assert result.get(timeout=20) == 1
    [(impl, _pid, _runs, redelivered)] = _hang_log(interop)
    assert impl == "celeriac"
    assert redelivered == "True"


def test_celery_does_not_restore_a_live_celeriac_workers_long_task(interop: Interop) -> None:
    """celeriac renews its leases: a Celery worker with the same short visibility_timeout
    on the same queue does not take a task that runs 3x longer (kombu#337)."""
    interop.start_worker("celeriac", "prefork", 1, visibility_timeout=2)
    result = interop.tasks("celery").hang.delay(6)
    interop.wait(lambda: _hang_log(interop), what="celeriac to start the task")
    interop.start_worker("celery", "prefork", 1, visibility_timeout=2)
    assert result.get(timeout=30) == 1
    assert [(impl, runs) for impl, _pid, runs, _ in _hang_log(interop)] == [("celeriac", "1")]
    assert interop.client.llen(interop.key(interop.queue)) == 0


async def test_celery_acking_a_restored_celeriac_lease_leaves_no_celeriac_bookkeeping(
    interop: Interop,
) -> None:
    result = interop.tasks("celeriac").add.delay(1, 1)
    options = TransportOptions(extra={"global_keyprefix": interop.prefix})
    transport = RedisTransport(interop.url, options)
    [delivery] = await transport.fetch([interop.queue], 10, 2.0)
    assert delivery.message is not None and delivery.message.headers["id"] == result.id
    await transport.aclose()  # ... and its process dies without settling
    transport.close()
    tag = delivery.tag
    assert interop.client.hexists(interop.key("celeriac.owners"), tag)
    with kombu.Connection(
        interop.url,
        transport_options={
            "global_keyprefix": interop.prefix,
            "visibility_timeout": 0,
        },
    ) as conn:
        channel = conn.channel()
        channel.qos.restore_visible()  # a Celery worker's visibility-timeout restore
        again = channel.basic_get(interop.queue, no_ack=False)
        assert again.headers["id"] == result.id and again.delivery_tag == tag
        again.ack()  # ... it runs the task and acks
        channel.close()
    assert interop.client.hlen(interop.key("unacked")) == 0
    # No celeriac consumer saw the ack; any celeriac consumer's periodic sweep (once a
    # minute) drops the entries. Run it now, with counts that expire at once.
    sweeper = RedisTransport(
        interop.url,
        TransportOptions(extra={"global_keyprefix": interop.prefix, "delivery_count_ttl": 0}),
    )
    # The first pass drops the owner and marks the message unleased; the next drops its
    # delivery count (here at once: delivery_count_ttl=0).
    assert await sweeper.sweep() + await sweeper.sweep() >= 2
    await sweeper.aclose()
    sweeper.close()
    leftovers = {
        name: interop.client.hget(interop.key(name), tag)
        for name in ("celeriac.owners", "celeriac.deliveries")
    }
    assert leftovers == {"celeriac.owners": None, "celeriac.deliveries": None}
