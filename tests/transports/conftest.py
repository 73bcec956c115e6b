"""Fixtures for the transport contract suite: one ``transport`` per broker kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.protocol.message import Message
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.registry import create_transport

TransportFactory = Callable[..., Transport]

KINDS = ["memory", "sqlite"]


def broker_url(kind: str, tmp_path: Path) -> str:
    """A fresh broker URL of ``kind`` that no other test uses."""
    if kind == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'broker.db'}"
    raise AssertionError(f"unknown transport kind {kind}")


@pytest.fixture(params=KINDS, ids=KINDS)
def transport_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TransportFactory]:
    """Make transports on one fresh broker; every call is a new connection to it."""
    url = broker_url(request.param, tmp_path)
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
