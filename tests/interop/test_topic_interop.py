"""A task routed through a topic exchange on RabbitMQ, between Celery 5.7 and celeriac.

Both tasks modules declare the same ``task_queues`` (the test's queue bound to a topic
exchange with ``*.image``) and route ``tasks.mul`` there with the routing key
``photo.image``; Celery's side builds them from ``kombu``, celeriac's from ``celeriac``.
Each side declares the exchange and the binding as the other does (no
``PRECONDITION_FAILED``), and the producer of one runs on the worker of the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.services import redis_client

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]

ROUTING = """
from {entities} import Exchange, Queue

MEDIA = Exchange(QUEUE + ".media", type="topic")
app.conf.task_queues = [Queue(QUEUE, MEDIA, routing_key="*.image")]
ROUTE = {{"exchange": QUEUE + ".media", "routing_key": "photo.image"}}
app.conf.task_routes = {{"tasks.mul": ROUTE}}
"""


@pytest.fixture(params=["celery_to_celeriac", "celeriac_to_celery"])
def routed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Interop, str]]:
    """An env with the routing in both modules, and the producer's implementation."""
    client = redis_client()
    env = Interop(tmp_path, client, "amqp")
    for impl, entities in (("celery", "kombu"), ("celeriac", "celeriac")):
        path = env.root / f"{impl}_tasks.py"
        path.write_text(path.read_text() + ROUTING.format(entities=entities))
    producer, consumer = str(request.param).split("_to_")
    try:
        env.start_worker(consumer, "solo" if consumer == "celery" else "threads", 1)
        yield env, producer
    finally:
        env.close()
        client.close()


def test_routed_task_crosses_the_topic_exchange(routed: tuple[Interop, str]) -> None:
    env, producer = routed
    tasks = env.tasks(producer)
    result = tasks.mul.delay(6, 7)
    assert result.get(timeout=20) == 42, env.logs()
    assert result.queue == "photo.image"  # result_extended: the routing key it came with
    assert "PRECONDITION_FAILED" not in env.logs()
