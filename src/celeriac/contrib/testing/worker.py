"""``start_worker``: an in-process worker for tests (Celery's ``celery.contrib.testing.worker``).

The worker runs on a thread of the test process (threads or solo pool); with
``perform_ping_check`` (the default, as in Celery) ``start_worker`` waits until it answers
the ``celery.ping`` task. ``test_worker_starting``/``started``/``stopped`` are sent around
it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeriac.contrib.testing.tasks import ping
from celeriac.result import allow_join_result
from celeriac.signals import Signal
from celeriac.utils.nodenames import anon_nodename
from celeriac.worker.consumer import Consumer
from celeriac.worker.control import ConsumerNode, start_consumer_mailbox
from celeriac.worker.worker import Worker, WorkerOptions, record_task_modules

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "TestWorkController",
    "setup_app_for_worker",
    "start_worker",
    "test_worker_started",
    "test_worker_starting",
    "test_worker_stopped",
]

#: Log level of test workers (the ``WORKER_LOGLEVEL`` environment variable, as Celery).
WORKER_LOGLEVEL = os.environ.get("WORKER_LOGLEVEL", "error")
#: Sent (``sender=app``) before a test worker starts.
test_worker_starting = Signal("test_worker_starting")
#: Sent (``sender=app, worker=, consumer=``) once it consumes.
test_worker_started = Signal("test_worker_started")
#: Sent (``sender=app, worker=``) after it stopped.
test_worker_stopped = Signal("test_worker_stopped")


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

    def ensure_started(self) -> None:
        """Return once the worker consumes (``start_worker`` already waited for it)."""

    def stop(self, cold: bool = False) -> None:
        """Stop the worker (warm by default) and wait for its thread."""
        self.loop.call_soon_threadsafe(self.consumer.stop, cold)
        self.thread.join(timeout=30)


@contextmanager
def start_worker(
    app: Celery,
    concurrency: int = 1,
    pool: str = "solo",
    loglevel: str | int = WORKER_LOGLEVEL,
    logfile: str | None = None,
    perform_ping_check: bool = True,
    ping_task_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    queues: list[str] | None = None,
    hostname: str | None = None,
    **options: Any,
) -> Iterator[TestWorkController]:
    """Run a worker for ``app`` in a background thread for the duration of a ``with`` block.

    The worker uses a thread pool (``pool='solo'`` for one thread); prefork needs a
    separate process (run ``celeriac worker`` as a subprocess for that). With
    ``perform_ping_check`` (and a result backend) it returns once the worker answered
    the ``celery.ping`` task. The node is named ``gen<pid>@<host>`` as in Celery
    (``anon_nodename()``), unless ``hostname`` names it: two test workers of one process
    that answer remote control need names of their own.
    """
    test_worker_starting.send(sender=app)
    controller: TestWorkController | None = None
    try:
        with _start_worker_thread(
            app, concurrency, pool, loglevel, queues, hostname, options
        ) as controller:
            if perform_ping_check and app.backend.stores_results:
                with allow_join_result():
                    sent = app.send_task(ping.name, queue=_first_queue(controller))
                    answer = sent.get(timeout=ping_task_timeout)
                if answer != "pong":
                    raise AssertionError(f"the test worker answered the ping with {answer!r}")
            yield controller
    finally:
        test_worker_stopped.send(sender=app, worker=controller)


def _first_queue(controller: TestWorkController) -> str | None:
    queues = list(controller.consumer.config.queues)
    return str(queues[0]) if queues else None


def setup_app_for_worker(app: Celery, loglevel: str | int, logfile: str | None) -> None:
    """Finalize ``app``, make it current and default, and set its logging up afresh."""
    from celeriac.app.log import Logging

    app.finalize()
    app.set_current()
    app.set_default()
    Logging._setup = False
    app.log.setup(loglevel=loglevel, logfile=logfile)


@contextmanager
def _start_worker_thread(
    app: Celery,
    concurrency: int,
    pool: str,
    loglevel: str | int,
    queues: list[str] | None,
    hostname: str | None,
    options: dict[str, Any],
) -> Iterator[TestWorkController]:
    worker = Worker(
        app,
        WorkerOptions(
            hostname=hostname or anon_nodename(),
            queues=list(queues or ()),
            concurrency=concurrency,
            pool="solo" if pool == "solo" else "threads",
            loglevel=str(loglevel).upper(),
            quiet=True,
            **options,
        ),
    )
    app.finalize()
    record_task_modules(app)  # conf.include, as Celery's WorkController sets it up
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
                worker.start_events(node)
                mailbox = (
                    await start_consumer_mailbox(node, consumer) if worker.remote_control else None
                )
                started.set()
                try:
                    await task
                finally:
                    if mailbox is not None:
                        await mailbox.stop()
                    worker.events.stop()

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
    test_worker_started.send(sender=app, worker=controller, consumer=controller.consumer)
    try:
        yield controller
    finally:
        if thread.is_alive():
            controller.stop()
