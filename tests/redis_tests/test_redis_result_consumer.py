"""Celery's ``backend.result_consumer`` on Redis: one shared pub/sub connection, safe to
use from several threads and from a finalizer running inside one of its commands."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from celeriac import states
from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from helpers.services import RedisKeyspace


@pytest.fixture
def backend(keyspace: RedisKeyspace) -> Iterator[RedisBackend]:
    made = RedisBackend(keyspace.url_with_prefix, BackendOptions())
    yield made
    made.close()


def _subscribers(client: redis.Redis, backend: RedisBackend, task_id: str) -> int:
    """The server's count of subscribers to the task's channel, once it has settled (a
    command sent on another connection may not have been read yet)."""
    counts = []
    for _ in range(20):
        [(_, count)] = client.pubsub_numsub(backend.task_key(task_id))
        counts.append(int(count))
        if counts[-3:] == [counts[-1]] * 3:
            break
        time.sleep(0.02)
    return counts[-1]


def test_churn_from_threads_while_draining(backend: RedisBackend, rclient: redis.Redis) -> None:
    consumer = backend.result_consumer
    seen: list[dict[str, Any]] = []
    consumer.on_message = seen.append
    initial = str(uuid.uuid4())
    consumer.start(initial)
    errors: list[BaseException] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                consumer.drain_events(timeout=0.05)
            except Exception as exc:
                errors.append(exc)
                stop.set()

    def churn() -> None:
        for _ in range(25):
            task_id = str(uuid.uuid4())
            consumer.consume_from(task_id)
            consumer.cancel_for(task_id)

    drainer = threading.Thread(target=drain)
    drainer.start()
    churners = [threading.Thread(target=churn) for _ in range(4)]
    for thread in churners:
        thread.start()
    for thread in churners:
        thread.join()
    backend.store_result(initial, 7, states.SUCCESS)  # published to the initial channel
    for _ in range(100):
        if seen:
            break
        threading.Event().wait(0.05)
    stop.set()
    drainer.join()
    assert not errors
    assert consumer.subscribed_to == {backend.task_key(initial).encode()}
    assert [meta["result"] for meta in seen] == [7]
    assert _subscribers(rclient, backend, initial) == 1
    consumer.stop()
    assert _subscribers(rclient, backend, initial) == 0


def test_a_cancel_inside_a_command_waits_for_it(
    backend: RedisBackend, rclient: redis.Redis
) -> None:
    consumer = backend.result_consumer
    consumer.start(str(uuid.uuid4()))
    pubsub = consumer._pubsub
    assert pubsub is not None
    finalized = [str(uuid.uuid4()) for _ in range(4)]
    for task_id in finalized:
        consumer.consume_from(task_id)
    pending, in_flight, nested = list(finalized), [], []

    def reentrant(command: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            if in_flight:
                nested.append(args)
            in_flight.append(command)
            try:
                result = command(*args)
                if pending:  # a finalizer cancels another result mid-command
                    consumer.cancel_for(pending.pop())
                return result
            finally:
                in_flight.pop()

        return wrapper

    pubsub.subscribe = reentrant(pubsub.subscribe)  # type: ignore[method-assign]
    pubsub.unsubscribe = reentrant(pubsub.unsubscribe)  # type: ignore[method-assign]
    outer = str(uuid.uuid4())
    consumer.consume_from(outer)
    consumer.cancel_for(outer)
    assert not nested and not pending
    consumer.drain_events(timeout=0.2)  # the server has answered every command
    assert all(_subscribers(rclient, backend, t) == 0 for t in [*finalized, outer])
    consumer.stop()


def test_closing_the_backend_closes_the_consumer(
    backend: RedisBackend, rclient: redis.Redis
) -> None:
    task_id = str(uuid.uuid4())
    backend.result_consumer.consume_from(task_id)
    assert _subscribers(rclient, backend, task_id) == 1
    backend.close()
    assert _subscribers(rclient, backend, task_id) == 0
    assert backend.result_consumer.subscribed_to == set()  # a new one after close
