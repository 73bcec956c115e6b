"""Which optional capabilities each transport declares, and the error when one is missing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.beat.lock import LeaderLock
from celeriac.protocol.message import Message
from celeriac.transports import contracts
from celeriac.transports.amqp import AMQPTransport
from celeriac.transports.base import DeadLetter, Delivery, Transport
from celeriac.transports.memory import MemoryTransport
from celeriac.transports.redis import RedisTransport
from celeriac.transports.sqlite import SQLiteTransport

OPTIONAL = {
    "Admin": contracts.Admin,
    "DeadLetters": contracts.DeadLetters,
    "Broadcast": contracts.Broadcast,
    "LockStore": contracts.LockStore,
    "RateStore": contracts.RateStore,
    "BlockingRenewal": contracts.BlockingRenewal,
    "ResultSettling": contracts.ResultSettling,
    "BatchPublish": contracts.BatchPublish,
    "RawPublish": contracts.RawPublish,
    "ExchangeRouting": contracts.ExchangeRouting,
    "DeclareQueues": contracts.DeclareQueues,
    "ChannelLeases": contracts.ChannelLeases,
}
COMMON = {"Admin", "DeadLetters", "Broadcast", "LockStore", "RateStore", "RawPublish"}
DECLARED = {
    "memory": COMMON,
    "sqlite": COMMON | {"BlockingRenewal", "ResultSettling"},
    "redis": COMMON | {"BlockingRenewal", "BatchPublish", "DeclareQueues"},
    "amqp": {
        "Admin",
        "BlockingRenewal",  # a heartbeat frame while a short body blocks the loop
        "ChannelLeases",  # a delivery dies with its connection
        "DeadLetters",
        "Broadcast",
        "LockStore",
        "RateStore",
        "BatchPublish",
        "DeclareQueues",
        "ExchangeRouting",
    },
}


def make(kind: str, tmp_path: Path) -> Transport:
    if kind == "memory":
        return MemoryTransport("memory://capabilities")
    if kind == "sqlite":
        return SQLiteTransport(f"sqlite:///{tmp_path / 'broker.db'}")
    if kind == "amqp":
        return AMQPTransport("amqp://guest:guest@127.0.0.1:5672//")  # no connection is made
    return RedisTransport("redis://127.0.0.1:6379/1")  # no connection is made


@pytest.mark.parametrize("kind", sorted(DECLARED))
def test_each_transport_declares_its_capabilities(kind: str, tmp_path: Path) -> None:
    transport = make(kind, tmp_path)
    assert isinstance(transport, contracts.WorkQueue)
    found = {name for name, protocol in OPTIONAL.items() if isinstance(transport, protocol)}
    assert found == DECLARED[kind]
    transport.close()


class QueueOnly(Transport):
    """A work queue with admin and nothing else (as a new broker starts out)."""

    schemes = ("queue-only",)

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        raise AssertionError("not called")

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        return []

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        pass

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        pass

    def queue_length(self, queue: str) -> int:
        return 0

    def purge(self, queue: str) -> int:
        return 0

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return []


def test_the_base_class_is_only_a_work_queue_with_admin() -> None:
    transport = QueueOnly("queue-only://")
    assert isinstance(transport, contracts.WorkQueue)
    assert isinstance(transport, contracts.Admin)
    others = {name for name, protocol in OPTIONAL.items() if isinstance(transport, protocol)}
    assert others == {"Admin"}


def test_a_missing_lock_store_says_so() -> None:
    lock = LeaderLock(QueueOnly("queue-only://"), timeout=5)
    assert not lock.supported
    with pytest.raises(NotImplementedError, match="QueueOnly has no leader lock"):
        lock.acquire()


def test_a_missing_broadcast_says_so() -> None:
    app = Celery("capabilities", broker="memory://capabilities", set_as_current=False)
    transport = QueueOnly("queue-only://")
    with pytest.raises(NotImplementedError, match="QueueOnly does not support broadcast"):
        app.control.broadcast("ping", connection=transport)
    with pytest.raises(NotImplementedError, match="QueueOnly does not support reply queues"):
        app.control.broadcast("ping", connection=transport, reply=True)
