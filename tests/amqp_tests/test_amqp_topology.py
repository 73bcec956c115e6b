"""URLs, kombu-identical declarations (no PRECONDITION_FAILED either way), priorities, quorum."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from celeriac.exceptions import ImproperlyConfigured
from celeriac.transports.amqp.delay import delay_routing_key
from celeriac.transports.amqp.urls import failover_cycle, parse_url, parse_urls
from transports.conftest import make_message, task_ids

from .conftest import AMQPFactory

kombu = pytest.importorskip("kombu")
celery = pytest.importorskip("celery")

pytestmark = pytest.mark.timeout(60)


# -- URLs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "vhost", "port", "tls"),
    [
        ("amqp://guest:guest@localhost:5672//", "/", 5672, False),
        ("amqp://localhost", "/", 5672, False),
        ("pyamqp://u:p@h/myvhost", "myvhost", 5672, False),
        ("amqp://u:p@h:1234/%2Fweird", "/weird", 1234, False),
        ("amqps://u:p@h//", "/", 5671, True),
    ],
)
def test_urls_as_kombu_reads_them(url: str, vhost: str, port: int, tls: bool) -> None:
    address = parse_url(url)
    assert (address.vhost, address.port, address.tls) == (vhost, port, tls)


def test_failover_list_and_strategies() -> None:
    addresses = parse_urls("amqp://u:p@a//;amqp://b//")
    assert [a.host for a in addresses] == ["a", "b"]
    cycle = failover_cycle(addresses, "round-robin")
    assert [next(cycle).host for _ in range(3)] == ["a", "b", "a"]
    assert {next(failover_cycle(addresses, "shuffle")).host for _ in range(40)} == {"a", "b"}
    with pytest.raises(ImproperlyConfigured, match="unknown broker_failover_strategy"):
        failover_cycle(addresses, "nope")
    with pytest.raises(ImproperlyConfigured, match="not an AMQP broker URL"):
        parse_url("redis://x")


def test_delay_routing_key_is_kombus() -> None:
    from kombu.transport.native_delayed_delivery import calculate_routing_key

    for seconds in (1, 5, 3600, 86400 * 7):
        assert delay_routing_key(seconds, "celery") == calculate_routing_key(seconds, "celery")


# -- declarations shared with kombu -----------------------------------------------------------
def _celery_declares(url: str, names: list[str], **settings: Any) -> None:
    app = celery.Celery("k", broker=url, set_as_current=False)
    app.conf.update(settings)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in names:
            app.amqp.queues[name].bind(channel).declare()


def _settings_variants(name: str) -> list[dict[str, Any]]:
    return [
        {"task_default_queue": name},
        {"task_default_queue": name, "task_queue_max_priority": 10},
        {"task_default_queue": name, "task_default_queue_type": "quorum"},
        {
            "task_queues": [
                kombu.Queue(
                    name,
                    kombu.Exchange(f"{name}-media", type="topic"),
                    routing_key="#.image",
                    queue_arguments={"x-max-priority": 5},
                )
            ]
        },
    ]


@pytest.mark.parametrize("variant", range(4))
@pytest.mark.parametrize("celery_first", [True, False])
def test_celery_and_celeriac_declare_alike(
    amqp_transport: AMQPFactory, vhost_url: str, variant: int, celery_first: bool
) -> None:
    name = f"decl-{uuid.uuid4().hex[:8]}"
    settings = _settings_variants(name)[variant]
    transport = amqp_transport(**settings)

    async def consume() -> None:
        assert await transport.fetch([name], 1, 0.05) == []
        await transport.aclose()

    if celery_first:
        _celery_declares(vhost_url, [name], **settings)
        asyncio.run(consume())  # no PRECONDITION_FAILED: the fetch declared the same queue
    else:
        asyncio.run(consume())
        _celery_declares(vhost_url, [name], **settings)
    transport.publish(make_message(1), name)  # the producer redeclares alike, too
    assert transport.queue_length(name) == 1


def test_a_queue_object_declared_before_is_not_read_again(
    amqp_transport: AMQPFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every delay() asks the producer to declare its queue: the second time the same queue
    object costs a dict lookup, while a new object (changed settings) is declared."""
    from celeriac.config.entities import Queue

    name = f"once-{uuid.uuid4().hex[:8]}"
    transport = amqp_transport()
    topology = transport.config.topology
    read: list[object] = []
    spec_of = topology.spec_of
    monkeypatch.setattr(topology, "spec_of", lambda obj: read.append(obj) or spec_of(obj))
    queue = Queue(name)
    transport.declare_queues([queue])
    transport.declare_queues([queue])
    assert read == [queue]
    renamed = Queue(f"{name}-2")
    transport.declare_queues([renamed])
    assert read == [queue, renamed]
    transport.publish(make_message(1), renamed.name)
    assert transport.queue_length(renamed.name) == 1


# -- priorities and quorum queues ---------------------------------------------------------
def test_priority_queue_delivers_9_before_0(amqp_transport: AMQPFactory) -> None:
    name = f"prio-{uuid.uuid4().hex[:8]}"
    transport = amqp_transport(task_queue_max_priority=10, task_default_queue=name)
    for n, priority in enumerate([0, 5, 9, 0, 3]):
        transport.publish(make_message(n), name, priority=priority)

    async def drain() -> list[str]:
        try:
            return task_ids(await transport.fetch([name], 10, 2.0))
        finally:
            await transport.aclose()

    assert asyncio.run(drain()) == ["task-2", "task-1", "task-4", "task-0", "task-3"]


def test_quorum_queue_is_declared_consumed_and_counts_deliveries(
    amqp_transport: AMQPFactory,
) -> None:
    name = f"quorum-{uuid.uuid4().hex[:8]}"
    transport = amqp_transport(task_default_queue=name, task_default_queue_type="quorum")
    transport.publish(make_message("q"), name)

    async def scenario() -> list[int]:
        counts = []
        try:
            for _ in range(2):
                [delivery] = await transport.fetch([name], 1, 3.0)
                counts.append(delivery.delivery_count)
                await transport.requeue([delivery], count=True)
            [delivery] = await transport.fetch([name], 1, 3.0)
            counts.append(delivery.delivery_count)
            await transport.ack([delivery])
            return counts
        finally:
            await transport.aclose()

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_dead_letters_go_to_the_queues_own_dead_letter_exchange(
    amqp_transport: AMQPFactory, vhost_url: str
) -> None:
    name = f"dlx-{uuid.uuid4().hex[:8]}"
    parking = f"{name}-parking"
    queues = [
        kombu.Queue(parking, kombu.Exchange(parking), routing_key=parking),
        kombu.Queue(
            name,
            kombu.Exchange(name),
            routing_key=name,
            queue_arguments={
                "x-dead-letter-exchange": parking,
                "x-dead-letter-routing-key": parking,
            },
        ),
    ]
    transport = amqp_transport(task_queues=queues)
    transport.publish(make_message(1), parking)  # declares the parking queue
    transport.purge(parking)
    transport.publish(make_message("bad", task="tasks.unknown"), name)

    async def scenario() -> None:
        try:
            [delivery] = await transport.fetch([name], 1, 3.0)
            await transport.dead_letter(delivery, "Received unregistered task 'tasks.unknown'")
        finally:
            await transport.aclose()

    asyncio.run(scenario())
    assert transport.queue_length(name) == 0
    assert transport.queue_length(parking) == 1
