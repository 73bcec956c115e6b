"""basic.qos follows the worker's window: concurrency x multiplier for sync tasks, async
slots only while async tasks arrive, and lowered again once they stop (no over-fetch)."""

from __future__ import annotations

import time

import pytest

from celeriac import Celery
from celeriac.transports.amqp import AMQPTransport
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)

SLOW = 0.2  # seconds each sync task sleeps


@pytest.fixture
def transport_kind() -> str:
    """These tests run on RabbitMQ only."""
    return "amqp"


def _mixed_app(make_app: AppFactory) -> tuple[Celery, object, object]:
    app = make_app()

    @app.task(name="t.slow")
    def slow() -> str:
        time.sleep(SLOW)
        return "slow"

    @app.task(name="t.quick")
    async def quick() -> str:
        return "quick"

    return app, slow, quick


def _ready(app: Celery) -> int:
    """Messages RabbitMQ still holds for any worker (not delivered to one)."""
    return app.transport.queue_length(app.conf.task_default_queue)


def test_sync_tasks_are_not_over_fetched_by_a_worker_that_knows_async_tasks(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    """A worker whose app has ``async def`` tasks takes no more sync messages than its
    window (1 x multiplier 4, plus what waits to be settled): the rest stays in the queue
    for other workers. Before, the 100 async slots counted from the start."""
    app, slow, _ = _mixed_app(make_app)
    results = [slow.delay() for _ in range(20)]  # type: ignore[attr-defined]
    worker(app, pool="threads", concurrency=1)
    wait_until(lambda: _ready(app) < 20, timeout=20.0, message="a worker taking messages")
    time.sleep(3 * SLOW)
    assert _ready(app) >= 20 - 3 * 4 - 3  # a window or two out, a few done
    assert [r.get(timeout=30) for r in results[:3]] == ["slow"] * 3


def test_the_prefetch_is_lowered_once_async_tasks_stop_arriving(
    make_app: AppFactory, worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of async tasks raises basic.qos to the async slots; once only sync tasks
    come, it is lowered again (here after 0.3 s instead of 30 s), so a backlog of sync
    tasks published later stays in the queue."""
    monkeypatch.setattr("celeriac.transports.amqp.consume.PREFETCH_LOWER_AFTER", 0.3, raising=True)
    app, slow, quick = _mixed_app(make_app)
    worker(app, pool="threads", concurrency=1)
    assert [r.get(timeout=30) for r in [quick.delay() for _ in range(30)]] == ["quick"] * 30  # type: ignore[attr-defined]
    # sync tasks only, for longer than the lowering delay
    assert [r.get(timeout=30) for r in [slow.delay() for _ in range(6)]] == ["slow"] * 6  # type: ignore[attr-defined]
    backlog = [slow.delay() for _ in range(20)]  # type: ignore[attr-defined]
    wait_until(lambda: _ready(app) < 20, timeout=20.0, message="a worker taking messages")
    time.sleep(3 * SLOW)
    assert _ready(app) >= 20 - 3 * 4 - 3
    assert backlog[0].get(timeout=30) == "slow"


def test_a_transport_raises_at_once_and_lowers_only_after_a_while(
    vhost_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule alone: more is granted at once; less only after asking for at most half
    for the whole delay, and then the most asked for meanwhile."""
    import asyncio

    from celeriac.transports.base import TransportOptions

    conf = Celery("t", broker="memory://", set_as_current=False).conf
    transport = AMQPTransport(vhost_url, TransportOptions(settings=conf))
    transport.prefetch_lower_after = 0.2
    granted: list[int] = []

    async def record(count: int) -> None:
        transport._prefetch = count
        granted.append(count)

    monkeypatch.setattr(transport, "_set_prefetch", record)

    async def scenario() -> None:
        await transport._fit_prefetch(104)
        await transport._fit_prefetch(60)  # more than half: kept
        await transport._fit_prefetch(8)
        await transport._fit_prefetch(12)
        await asyncio.sleep(0.25)
        await transport._fit_prefetch(6)  # the delay is over: the peak (12)
        await transport._fit_prefetch(10)  # within the new prefetch: nothing
        await transport._fit_prefetch(20)  # more: at once

    try:
        asyncio.run(scenario())
    finally:
        transport.close()
    assert granted == [104, 12, 20]
