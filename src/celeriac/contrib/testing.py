"""``start_worker``: an in-process worker for tests (Celery's ``celery.contrib.testing.worker``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeriac.worker.consumer import Consumer
from celeriac.worker.control import ConsumerNode, start_mailbox
from celeriac.worker.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["TestWorkController", "start_worker"]


class TestWorkController:
    """A running in-process worker: its consumer and the thread running its loop."""

    __test__ = False

    def __init__(
        self,
        app: Celery,
        consumer: Consumer,
        thread: threading.Thread,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.thread = thread
        self.loop = loop
        self.hostname = consumer.config.hostname

    def stop(self, cold: bool = False) -> None:
        """Stop the worker (warm by default) and wait for its thread."""
        self.loop.call_soon_threadsafe(self.consumer.stop, cold)
        self.thread.join(timeout=30)


@contextmanager
def start_worker(
    app: Celery,
    concurrency: int = 1,
    pool: str = "threads",
    loglevel: str = "WARNING",
    perform_ping_check: bool = False,
    shutdown_timeout: float = 10.0,
    queues: list[str] | None = None,
    hostname: str | None = None,
    **options: Any,
) -> Iterator[TestWorkController]:
    """Run a worker for ``app`` in a background thread for the duration of a ``with`` block.

    The worker uses a thread pool (``pool='solo'`` for one thread); prefork needs a
    separate process (run ``celeriac worker`` as a subprocess for that).
    """
    worker = Worker(
        app,
        WorkerOptions(
            hostname=hostname or "celeriac-test@%h",
            queues=list(queues or ()),
            concurrency=concurrency,
            pool="solo" if pool == "solo" else "threads",
            loglevel=loglevel,
            quiet=True,
            **options,
        ),
    )
    app.finalize()
    config = worker.consumer_config(1 if pool == "solo" else concurrency)
    config.fetch_timeout = 0.05  # stop (at the end of each test) within 50 ms
    loop = asyncio.new_event_loop()
    consumer_box: list[Consumer] = []
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            consumer = Consumer(app, config)
            consumer.revoked = worker.revoked
            consumer_box.append(consumer)

            async def main() -> None:
                task = loop.create_task(consumer.run())
                await consumer.wait_started()
                node = ConsumerNode(consumer, statedb=worker.statedb, pool=worker.pool_name)
                mailbox = await start_mailbox(node) if worker.remote_control else None
                started.set()
                try:
                    await task
                finally:
                    if mailbox is not None:
                        await mailbox.stop()

            loop.run_until_complete(main())
        except BaseException as exc:
            errors.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=run, name="celeriac-test-worker", daemon=True)
    thread.start()
    started.wait(timeout=30)
    if errors:
        raise errors[0]
    controller = TestWorkController(app, consumer_box[0], thread, loop)
    try:
        yield controller
    finally:
        if thread.is_alive():
            controller.stop()
