"""A signed task that comes back to its queue (a dead worker's lease, restored the way
kombu restores it, with ``redelivered`` set) still verifies and runs: the broker's
in-transit headers are outside the signature."""

from __future__ import annotations

import asyncio

import pytest

from helpers.services import AppFactory, WorkerFactory

KEYS = "hmac:k2:" + "n" * 32


@pytest.fixture
def transport_kind() -> str:
    """Redis: its restore of an unacked message adds kombu's ``redelivered`` header."""
    return "redis"


def test_a_restored_signed_task_runs(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app(security_keys=KEYS)

    @app.task(name="t.echo")
    def echo(text: str) -> str:
        return text

    result = app.send_task("t.echo", ("again",))
    dead, survivor = make_app(security_keys=KEYS), make_app(security_keys=KEYS)

    async def lease_then_restore() -> tuple[int, int]:
        taken = await dead.transport.fetch(["celery"], 10, 2.0)
        return len(taken), await survivor.transport.recover(dead.transport.consumer_id)

    assert asyncio.run(lease_then_restore()) == (1, 1)
    worker(app)
    assert result.get(timeout=15) == "again"
    assert app.transport.dead_letters() == []
