"""Fixtures for the transport contract suite: one ``transport`` per broker kind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.protocol.message import Message
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.registry import create_transport

TransportFactory = Callable[..., Transport]

KINDS = ["memory", "sqlite", "redis"]

# -- Redis: one database per xdist worker, one key prefix per test ----------------------
REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")

#: Contract tests whose expectation kombu's Redis layout cannot meet, and why.
REDIS_DIFFERENCES = {
    "test_higher_priority_first": "on Redis priority 0 runs first and 9 last (kombu's "
    "priority lists, shared with Celery workers); see transports/redis.py",
    "test_queues_are_taken_in_the_given_order": "on Redis lists are served priority "
    "step first, then queue (kombu's BRPOP order), and 0 is the most urgent",
    "test_apublish": "priorities 3 and 4 share kombu's priority list 3 (priority_steps "
    "0, 3, 6, 9), so they run in publishing order",
}


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def redis_or_skip() -> Any:
    """A client of the test database, or skip (fail when ``CI`` is set) if Redis is down."""
    import redis

    host, _, port = REDIS_HOST.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379), db=redis_db())
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_HOST} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST} is not reachable")
    return client


def redis_cleanup(client: Any, prefix: str) -> None:
    """Delete every key of one test (SCAN by its prefix)."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the contract tests that state what Redis deliberately does differently."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name)
        if callspec is None or name not in REDIS_DIFFERENCES:
            continue
        if callspec.params.get("transport_factory") == "redis":
            item.add_marker(pytest.mark.xfail(reason=REDIS_DIFFERENCES[name], strict=True))


def broker_url(kind: str, tmp_path: Path) -> str:
    """A fresh broker URL of ``kind`` that no other test uses."""
    if kind == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'broker.db'}"
    if kind == "redis":
        prefix = f"t{uuid.uuid4().hex[:10]}_"
        return f"redis://{REDIS_HOST}/{redis_db()}?global_keyprefix={prefix}"
    raise AssertionError(f"unknown transport kind {kind}")


@pytest.fixture(params=KINDS, ids=KINDS)
def transport_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TransportFactory]:
    """Make transports on one fresh broker; every call is a new connection to it."""
    client = redis_or_skip() if request.param == "redis" else None
    url = broker_url(request.param, tmp_path)
    made: list[Transport] = []

    def make(**options: Any) -> Transport:
        transport = create_transport(url, TransportOptions(**options))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()
    if client is not None:
        redis_cleanup(client, url.rpartition("global_keyprefix=")[2])


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
