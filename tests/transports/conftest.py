"""Fixtures for the transport contract suite: one ``transport`` per broker kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac.protocol.message import Message
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.registry import create_transport
from helpers.services import (
    TRANSPORTS,
    fresh_store,
    rabbitmq_delete_queues,
    rabbitmq_vhost,
    redis_keyspace,
)

TransportFactory = Callable[..., Transport]

KINDS = [*TRANSPORTS, "amqp"]

#: Contract tests whose expectation kombu's Redis layout cannot meet, and why.
REDIS_DIFFERENCES = {
    "test_higher_priority_first": "on Redis priority 0 runs first and 9 last (kombu's "
    "priority lists, shared with Celery workers); see transports/redis/keys.py",
    "test_queues_are_taken_in_the_given_order": "on Redis lists are served priority "
    "step first, then queue (kombu's BRPOP order), and 0 is the most urgent",
    "test_apublish": "priorities 3 and 4 share kombu's priority list 3 (priority_steps "
    "0, 3, 6, 9), so they run in publishing order",
}


#: Contract tests whose expectation RabbitMQ's model does not meet, and why (docs/brokers.md).
AMQP_DIFFERENCES = {
    "test_higher_priority_first": "RabbitMQ honours priorities only on queues declared "
    "with x-max-priority (task_queue_max_priority), as with Celery; tested apart",
    "test_queues_are_taken_in_the_given_order": "needs priorities (x-max-priority)",
    "test_apublish": "needs priorities (x-max-priority)",
    "test_expired_lease_is_redelivered": "no visibility timeout: a delivery is ours while "
    "the channel lives; a dead worker's messages come back when its connection closes",
    "test_recover_gives_back_a_dead_consumers_leases": "RabbitMQ gives back a dead "
    "consumer's messages itself when its connection closes; recover() has nothing to do",
    "test_queue_length_and_purge": "an ETA message waits in the shared celery_delayed_* "
    "queues (Celery's layout), not in its own queue, so its queue does not count it",
}

DIFFERENCES = {"redis": REDIS_DIFFERENCES, "amqp": AMQP_DIFFERENCES}

#: Queue names the contract tests use (deleted after each test on RabbitMQ).
AMQP_QUEUES = ("celery", "jobs", "a", "b", "other", "nothing-here", "celeriac.dead_letters")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the contract tests that state what Redis or RabbitMQ deliberately do differently."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name)
        if callspec is None:
            continue
        differences = DIFFERENCES.get(callspec.params.get("transport_factory"), {})
        if name in differences:
            item.add_marker(pytest.mark.xfail(reason=differences[name], strict=True))


@pytest.fixture(scope="session")
def amqp_vhost_url() -> Iterator[str]:
    """A RabbitMQ virtual host for this session's contract tests."""
    with rabbitmq_vhost("contract") as url:
        yield url


@pytest.fixture(params=KINDS, ids=KINDS)
def transport_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TransportFactory]:
    """Make transports on one fresh broker; every call is a new connection to it."""
    with ExitStack() as stack:
        if request.param == "redis":  # the prefix in the URL; its keys are deleted at the end
            url = stack.enter_context(redis_keyspace("t")).url_with_prefix
        elif request.param == "amqp":  # a vhost per session; the queues go after each test
            url = request.getfixturevalue("amqp_vhost_url")
            stack.callback(rabbitmq_delete_queues, url, AMQP_QUEUES)
        else:
            url = stack.enter_context(fresh_store(request.param, tmp_path, "broker")).url
        made: list[Transport] = []

        def make(**options: Any) -> Transport:
            transport = create_transport(url, TransportOptions(**options))
            made.append(transport)
            return transport

        yield make
        for transport in made:
            transport.close()


@pytest.fixture
def transport(transport_factory: TransportFactory) -> Transport:
    """A transport with default options on a fresh broker."""
    return transport_factory()


@pytest.fixture
def inject_raw(transport: Transport) -> Callable[[str, bytes], None]:
    """Store raw bytes as a message, bypassing the envelope (to test undecodable input)."""
    publish_raw = getattr(transport, "publish_raw", None)
    if publish_raw is None:
        pytest.skip(f"{type(transport).__name__} cannot store raw bytes")

    def inject(queue: str, raw: bytes) -> None:
        publish_raw(raw, queue)

    return inject


def make_message(n: int | str, task: str = "tasks.add") -> Message:
    """A small protocol-v2-looking message whose task id is ``task-<n>``."""
    return Message(
        body=b'[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
        headers={"lang": "py", "task": task, "id": f"task-{n}", "retries": 0},
        properties={"correlation_id": f"task-{n}"},
    )


def task_ids(deliveries: list[Any]) -> list[str]:
    """The task ids of decoded deliveries, in order."""
    return [d.message.headers["id"] for d in deliveries]
