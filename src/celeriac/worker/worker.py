"""Worker: reads its options, prints the banner, runs consumers in-process or in prefork."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.app.declare import declare_at_start
from celeriac.app.log import Logging
from celeriac.bootsteps import StepRunner
from celeriac.concurrency import get_implementation
from celeriac.config.queues import queue_table
from celeriac.exceptions import (
    ImproperlyConfigured,
    NotRegistered,
)
from celeriac.pools.prefork import ChildProcess, ProcessPool
from celeriac.pools.rates import RateTable
from celeriac.pools.reports import ChildReport, Drained, Ready, Totals
from celeriac.pools.slots import SlotTable
from celeriac.transports.base import Delivery
from celeriac.utils.log import set_process_name
from celeriac.utils.nodenames import node_format
from celeriac.worker import state as worker_state
from celeriac.worker.autoscale import start_autoscaler
from celeriac.worker.bootsteps import consumer_steps
from celeriac.worker.checks import warn_at_startup
from celeriac.worker.children import SlotReporter, lost_outcome
from celeriac.worker.consumer import Consumer, ConsumerConfig
from celeriac.worker.control import (
    ConsumerNode,
    ControlThread,
    PreforkNode,
    apply_setting,
    start_consumer_mailbox,
)
from celeriac.worker.control_nodes import ControlNode
from celeriac.worker.finisher import Finisher
from celeriac.worker.heartbeat import NodeEvents
from celeriac.worker.held import SettleAction
from celeriac.worker.observer import Observers, PipelineObserver
from celeriac.worker.revoked import RevokedSet, RevokeRing, StateDB
from celeriac.worker.sizing import pool_size

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Worker", "WorkerOptions", "expand_hostname", "mask_url"]

logger = logging.getLogger("celery.worker")

POOLS = ("prefork", "threads", "solo")


def expand_hostname(template: str | None) -> str:
    """Expand ``%h`` (host), ``%n`` (host name part) and ``%d`` (domain) in a node name."""
    host = socket.gethostname()
    name, _, domain = host.partition(".")
    if not template:
        return f"celery@{host}"
    value = template.replace("%h", host).replace("%n", name).replace("%d", domain)
    return value.replace("%%", "%")


@dataclass(slots=True)
class WorkerOptions:
    """The worker's command-line options (Celery's flags), with Celery's defaults."""

    hostname: str | None = None
    queues: list[str] = field(default_factory=list)
    exclude_queues: list[str] = field(default_factory=list)
    concurrency: int | str | None = None
    pool: str = "prefork"
    loglevel: str = "WARNING"
    logfile: str | None = None
    pidfile: str | None = None
    prefetch_multiplier: int | None = None
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    send_events: bool = False
    without_heartbeat: bool = False
    #: seconds between ``worker-heartbeat`` events (``--heartbeat-interval``)
    heartbeat_interval: float | None = None
    burst: bool = False
    quiet: bool = False
    async_slots: int | None = None
    #: file persisting revoked ids (``--statedb``; ``worker_state_db``)
    statedb: str | None = None
    #: ``--autoscale=max,min`` (prefork): the pool's bounds
    autoscale: tuple[int, int] | None = None


class Worker:
    """A celeriac worker node: ``Worker(app, WorkerOptions(...)).start()`` blocks until shut down.

    ``-P prefork`` forks ``concurrency`` children, each a complete consumer with one
    thread for sync tasks; ``threads`` runs one consumer with ``concurrency`` threads;
    ``solo`` one consumer with one thread. ``async def`` tasks always run on the
    consumer's event loop.
    """

    def __init__(self, app: Celery, options: WorkerOptions | None = None) -> None:
        self.app = app
        self.options = options or WorkerOptions()
        opts = self.options
        conf = app.conf
        self.hostname = expand_hostname(opts.hostname)
        if opts.pidfile:  # %n, %h, %d, %p as Celery expands them
            opts.pidfile = node_format(opts.pidfile, self.hostname)
        self.pool_name = opts.pool
        if self.pool_name not in POOLS:
            raise ImproperlyConfigured(
                f"unknown pool {opts.pool!r}: choose one of {', '.join(POOLS)}"
            )
        size = pool_size(opts.concurrency, conf.worker_concurrency, self.pool_name)
        self.concurrency = size.count
        self._size_explanation = size.explanation  # logged at start ("auto")
        if opts.autoscale:  # start at the lower bound (at least one process), as Celery
            self.concurrency = max(1, opts.autoscale[1])
        if opts.time_limit is not None:
            conf.task_time_limit = opts.time_limit
        if opts.soft_time_limit is not None:
            conf.task_soft_time_limit = opts.soft_time_limit
        if self.pool_name == "prefork" and not app.transport.crosses_processes:
            logger.warning(
                "Broker %s lives in one process: using the threads pool instead of prefork",
                app.broker_url,
            )
            self.pool_name = "threads"
        if opts.autoscale and self.pool_name != "prefork":
            self.concurrency = opts.autoscale[0]
            logger.warning("--autoscale resizes prefork pools only: %d threads", self.concurrency)
        self.autoscaler: Any = None
        self.queues = self._queues()
        self._consumer: Consumer | None = None
        self._pool: ProcessPool | None = None
        self._signals_seen = 0
        #: rate limits changed at run time, and how the consumers learn of them
        self._rate_changes: dict[str, str | float | None] = {}
        self._rate_version = 0
        self._rate_table: RateTable | None = None
        self._rate_lock = threading.Lock()
        #: called with the worker once it is ready (in the supervisor with prefork)
        self.on_ready: list[Callable[[Worker], None]] = []
        #: told of each task received, started and finished (the seam for task events)
        self.observer: PipelineObserver | None = None
        #: answer remote control (``worker_enable_remote_control``)
        self.remote_control = bool(app.conf.worker_enable_remote_control)
        self.statedb = self._open_statedb()
        self.revoked = RevokedSet(ring=RevokeRing() if self.pool_name == "prefork" else None)
        worker_state.use_revoked(self.revoked)  # Celery's ``celery.worker.state.revoked``
        if self.statedb is not None:
            count = self.statedb.load(self.revoked)
            logger.info("Restored %d revoked task ids from %s", count, self.statedb.path)
        #: worker-online/heartbeat/offline, and the task events switch (-E, enable_events)
        self.events = NodeEvents(
            app,
            self.hostname,
            task_events=self.task_events,
            heartbeat=not opts.without_heartbeat,
            freq=opts.heartbeat_interval or 2.0,
            relay=self.revoked.relay,
        )

    @property
    def task_events(self) -> bool:
        """Whether task events are on from the start (``-E`` or ``worker_send_task_events``)."""
        return bool(self.options.send_events or self.app.conf.worker_send_task_events)

    def pipeline_observer(self) -> PipelineObserver:
        """What the pipeline tells of each task: the task events, then :attr:`observer`."""
        return Observers([self.events.task_events, self.observer])

    def start_events(self, node: ControlNode) -> None:
        """Announce the node (``worker-online``) and start its heartbeats; ``node`` answers
        remote control and gives the heartbeat's ``active`` and ``processed``."""
        node.events = self.events
        self.events.start(lambda: (len(node.running_ids()), sum(node.totals().values())))

    def _ready(self) -> None:
        """Run the on-ready hooks (``-B``'s beat, in this process, after any fork), then
        send ``worker_ready``."""
        for hook in self.on_ready:
            hook(self)
        signals.worker_ready.send(sender=self)

    def _open_statedb(self) -> StateDB | None:
        path = self.options.statedb or self.app.conf.worker_state_db
        if not path:
            return None
        path = str(path).replace("%n", self.hostname.split("@")[0]).replace("%h", self.hostname)
        return StateDB(path)

    def _queues(self) -> list[str]:
        table = queue_table(self.app.conf)
        queues = [q.name for q in table.select(self.options.queues, self.options.exclude_queues)]
        if not queues:
            raise ImproperlyConfigured("no queues left to consume after -X/--exclude-queues")
        return queues

    @property
    def pool_cls(self) -> type:
        """Celery's ``WorkController.pool_cls``: the :mod:`celeriac.concurrency` class of the
        pool ``-P`` names (the worker runs its own implementation of that pool)."""
        return get_implementation(self.pool_name)

    # -- reporting -------------------------------------------------------------------
    def banner(self) -> str:
        """The start-up banner: transport, backend, concurrency, queues and tasks."""
        from celeriac import __version__

        tasks = sorted(self.app.tasks.regular())
        lines = [
            f" -------------- {self.hostname} v{__version__} (celeriac)",
            f"--- ***** ----- {platform.platform()} {self.app.now():%Y-%m-%d %H:%M:%S}",
            "-- ******* ---- ",
            "- *** --- * --- ",
            "- ** ---------- [config]",
            f"- ** ---------- .> app:         {self.app.main or '__main__'}:{id(self.app):#x}",
            f"- ** ---------- .> transport:   {mask_url(self.app.broker_url)}",
            f"- ** ---------- .> results:     {mask_url(self.app.result_backend_url)}",
            f"- *** --- * --- .> concurrency: {self.concurrency} ({self.pool_name})",
            f"-- ******* ---- .> task events: {'ON' if self.task_events else 'OFF'}",
            "--- ***** ----- ",
            " -------------- [queues]",
            *(f"                .> {line}" for line in self._queue_lines()),
            "",
            "[tasks]",
            *(f"  . {name}" for name in tasks),
            "",
        ]
        return "\n".join(lines)

    def _queue_lines(self) -> list[str]:
        """Celery's banner line per queue: name, exchange(type), binding key."""
        table = queue_table(self.app.conf)
        lines = []
        for name in self.queues:
            queue = table.queues.get(name) or table.missing(name)
            exchange = queue.exchange or table.default_exchange
            lines.append(
                f"{name:<16} exchange={exchange.name}({exchange.type}) key={queue.routing_key}"
            )
        return lines

    # -- run-time changes ----------------------------------------------------------------
    def set_rate_limit(self, task_name: str, rate: str | float | None) -> None:
        """Change a task's rate limit on this worker node, from its next call on.

        ``rate`` is what ``rate_limit`` takes (``'10/s'``, ``'100/m'``, a number per
        second); ``None``, ``''`` or ``0`` removes the limit. The new rate replaces the
        task's ``rate_limit``, ``task_annotations`` and ``task_default_rate_limit``
        until the worker stops. Every process of the node applies it: prefork children
        (running or started later) read it from shared memory, each keeping its share
        of a worker-scope rate. Callable from any thread (the remote control
        ``rate_limit`` command calls it).

        Raises:
            NotRegistered: no task of that name is registered in this worker.
            ValueError: ``rate`` is not a rate.
        """
        from celeriac.worker.rate_limits import parse_rate

        if task_name not in self.app.tasks:
            raise NotRegistered(task_name)
        parse_rate(rate)  # validate before any process sees it
        with self._rate_lock:  # the shared table has one writer at a time
            self._rate_changes[task_name] = rate
            self._rate_version += 1
            if self._rate_table is not None:
                self._rate_table.write(dict(self._rate_changes))
        logger.info("Rate limit of %s set to %s", task_name, rate or "none")

    def _rate_updates(self) -> Callable[[], Mapping[str, object] | None]:
        """For an in-process consumer: the changed rates when they changed, else None."""
        seen = 0

        def updates() -> dict[str, object] | None:
            nonlocal seen
            if self._rate_version == seen:
                return None
            seen = self._rate_version
            return dict(self._rate_changes)

        return updates

    # -- running -----------------------------------------------------------------------
    def start(self) -> int:
        """Run the worker until it is shut down; return the exit code."""
        opts = self.options
        set_process_name("MainProcess")
        self.app.log.setup(opts.loglevel, self.logfile(0))
        if self._size_explanation:
            logger.info("%s", self._size_explanation)
        self.app.finalize()
        record_task_modules(self.app)
        warn_at_startup(self.app, self.queues)
        self._write_pidfile()
        signals.celeryd_init.send(sender=self.hostname, instance=self, conf=self.app.conf)
        if not opts.quiet:
            print(self.banner(), flush=True)
        signals.celeryd_after_setup.send(sender=self.hostname, instance=self, conf=self.app.conf)
        # queues a handler added with app.amqp.queues.select_add(), consumed whatever -Q says
        self.queues += [name for name in self.app.amqp.queues.added if name not in self.queues]
        if not declare_at_start(self.app, self.queues):  # broker down, no retry at start-up
            self._remove_pidfile()
            return 1
        signals.worker_init.send(sender=self)
        steps = StepRunner(self.app.steps["worker"], self)  # a project's bootsteps
        steps.start()
        try:
            if self.pool_name == "prefork":
                return self._run_prefork()
            return self._run_in_process()
        finally:
            steps.stop()
            signals.worker_shutdown.send(sender=self)
            self._remove_pidfile()

    def consumer_config(self, concurrency: int) -> ConsumerConfig:
        """The consumer settings for one process of this worker."""
        conf = self.app.conf
        opts = self.options
        return ConsumerConfig(
            queues=self.queues,
            hostname=self.hostname,
            concurrency=concurrency,
            async_slots=opts.async_slots or conf.worker_async_slots,
            # under --autoscale messages wait in the broker, where the autoscaler counts them
            prefetch_multiplier=1
            if opts.autoscale
            else opts.prefetch_multiplier or conf.worker_prefetch_multiplier,
            max_tasks=opts.max_tasks_per_child or conf.worker_max_tasks_per_child,
            max_memory_kb=opts.max_memory_per_child or conf.worker_max_memory_per_child,
            burst=opts.burst,
            rate_updates=self._rate_updates(),
            observer=self.pipeline_observer(),
        )

    def _run_in_process(self) -> int:
        concurrency = 1 if self.pool_name == "solo" else self.concurrency
        consumer = Consumer(self.app, self.consumer_config(concurrency))
        consumer.revoked = self.revoked
        self._consumer = consumer

        async def main() -> int:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, signal.SIGTERM)
            loop.add_signal_handler(signal.SIGINT, self._on_stop_signal, signal.SIGINT)
            loop.add_signal_handler(signal.SIGQUIT, self._on_stop_signal, signal.SIGQUIT)
            runner = loop.create_task(consumer.run())
            await consumer.wait_started()
            consumer_steps(self.app, consumer, runner)
            node = ConsumerNode(consumer, statedb=self.statedb, pool=self.pool_name)
            self.start_events(node)
            mailbox = await start_consumer_mailbox(node, consumer) if self.remote_control else None
            logger.info("%s ready.", self.hostname)
            self._ready()
            try:
                return await runner
            finally:
                if mailbox is not None:
                    await mailbox.stop()
                self.events.stop()

        return _run_loop(main())

    def _on_stop_signal(self, signum: int) -> None:
        self._signals_seen += 1
        cold = signum == signal.SIGQUIT or self._signals_seen > 1
        kind = "cold" if cold else "warm"
        logger.warning("worker: %s shutdown (%s)", kind.capitalize(), signal.Signals(signum).name)
        signals.worker_shutting_down.send(sender=self.hostname, sig=signum, how=kind, exitcode=0)
        if self._consumer is not None:
            self._consumer.stop(cold=cold)
        if self._pool is not None:
            self._pool.stop(cold=cold)

    def _run_prefork(self) -> int:
        # A child runs one sync task and up to async_slots async ones at a time.
        slots = (self.options.async_slots or self.app.conf.worker_async_slots) + 4
        pool = ProcessPool(self.concurrency, self._child_main, self._on_child_lost, slots=slots)
        self._pool = pool
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, lambda number, _frame: self._on_stop_signal(number))
        # Load the backend's code in the parent so children share it instead of each
        # importing it privately; then drop connections (never share them across fork).
        _ = self.app.backend
        self.app.close()
        self._rate_table = RateTable()
        self._rate_table.write(dict(self._rate_changes))
        pool.start()
        if self.options.autoscale:
            start_autoscaler(self, pool)
        config = self.consumer_config(1)
        node = PreforkNode(
            self.app,
            self.hostname,
            pool,
            self.revoked,
            statedb=self.statedb,
            prefetch=self.concurrency * max(1, config.prefetch_multiplier),
            queues=self.queues,
            set_rate_limit=self.set_rate_limit,
        )
        node.autoscaler = self.autoscaler  # type: ignore[attr-defined]
        self.start_events(node)
        control = ControlThread(node)
        if self.remote_control:
            control.start()
        logger.info("%s ready.", self.hostname)
        self._ready()
        try:
            pool.run()
        finally:
            control.stop()
            self.events.stop()
        return 0

    def _child_main(self, index: int, conn: Connection, table: SlotTable) -> int:
        if self.options.logfile and "%i" in self.options.logfile.lower():
            Logging._setup = False  # a log file of its own (%I / %i)
        self.app.log.setup(self.options.loglevel, self.logfile(index + 1))
        set_process_name(f"ForkPoolWorker-{index}")
        config = self.consumer_config(1)
        config.hard_limit_exits = True
        config.inline_sync = self.app.conf.worker_inline_sync
        config.rate_share = self.concurrency
        if self._rate_table is not None:
            config.rate_updates = self._rate_table.changes

        def send(report: ChildReport) -> None:
            try:
                conn.send(report)
            except OSError:
                pass

        config.report = SlotReporter(table)
        consumer = Consumer(self.app, config)
        consumer.revoked = self.revoked  # inherited at fork; follows the parent's ring
        self.revoked.on_command = lambda method, arguments: apply_setting(
            consumer, method, arguments
        )

        async def main() -> int:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, consumer.stop)
            loop.add_signal_handler(signal.SIGQUIT, consumer.stop, True)
            runner = loop.create_task(consumer.run())
            await consumer.wait_started()
            consumer_steps(self.app, consumer, runner)
            send(Ready(consumer.transport.consumer_id, os.getpid()))
            totals = loop.create_task(_child_housekeeping(consumer, send))
            code = await runner
            totals.cancel()
            send(Totals(dict(consumer.totals)))
            if consumer.drained:
                send(Drained())
            return code

        code = _run_loop(main())
        sys.stdout.flush()
        sys.stderr.flush()
        return code

    def _on_child_lost(self, child: ChildProcess, reason: str) -> None:
        """A child died: finish the tasks it was running (the finisher says whether each
        runs again or fails as Celery would), give back the rest."""
        finisher = Finisher(self.app, self.hostname, observer=self.pipeline_observer())
        lost: list[Delivery] = []
        running = child.running
        for task in running.values():
            outcome = lost_outcome(task, reason, child.info.terminated, child.killed_for)
            if finisher.finish_lost(task, outcome, reason) is SettleAction.ACK:
                lost.append(Delivery(message=None, queue=task.queue, tag=task.tag))
        # Only the tasks it was running count as delivered: the prefetched rest did not
        # kill the child, so they must not move towards task_max_deliveries.
        self._give_back(child, lost, {task.tag for task in running.values()})

    def _give_back(self, child: ChildProcess, lost: list[Delivery], running: set[str]) -> None:
        """Ack a dead child's finished messages, requeue everything else it held."""
        transport = self.app.transport
        consumer_id = child.info.consumer_id

        async def settle() -> None:
            if lost:
                await transport.ack(lost)
            if consumer_id:
                await transport.recover(consumer_id, running=running)

        try:
            asyncio.run(settle())
        except Exception as exc:
            logger.error(
                "Recovering messages of %s failed: %r (they return after the visibility timeout)",
                child.name,
                exc,
            )

    def logfile(self, process_index: int) -> str | None:
        """The log file of one process: ``%i`` is its index (0: main), ``%I`` ``-<index>``."""
        if not self.options.logfile:
            return None
        sep = f"-{process_index}" if process_index else ""
        return node_format(self.options.logfile, self.hostname, i=str(process_index), I=sep)

    # -- pidfile -------------------------------------------------------------------------
    def _write_pidfile(self) -> None:
        path = self.options.pidfile
        if not path:
            return
        if os.path.exists(path):
            try:
                with open(path) as handle:
                    old = int(handle.read().strip() or 0)
                os.kill(old, 0)
            except (ValueError, ProcessLookupError, PermissionError):
                os.unlink(path)
            else:
                raise ImproperlyConfigured(f"pidfile {path} names a running process ({old})")
        with open(path, "w") as handle:
            handle.write(f"{os.getpid()}\n")

    def _remove_pidfile(self) -> None:
        path = self.options.pidfile
        if path and os.path.exists(path):
            try:
                with open(path) as handle:
                    mine = int(handle.read().strip() or 0) == os.getpid()
                if mine:
                    os.unlink(path)
            except (OSError, ValueError):
                pass


async def _child_housekeeping(
    consumer: Consumer, send: Callable[[ChildReport], None], period: float = 1.0
) -> None:
    """A prefork child, every second: take in the parent's revokes and setting changes
    (also done before each task; this keeps an idle child from falling a ring behind), and
    tell the parent its per-task counts (``stats``) when they changed."""
    sent: dict[str, int] = {}
    while True:
        await asyncio.sleep(period)
        consumer.revoked.poll()
        if consumer.totals != sent:
            sent = dict(consumer.totals)
            send(Totals(sent))


def _run_loop(coro: Coroutine[object, object, int]) -> int:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return int(runner.run(coro))


def record_task_modules(app: Celery) -> None:
    """Add every registered task's module to ``conf.include``, as Celery's worker does
    (``inspect conf`` shows them; a process started afresh can import them all)."""
    given = tuple(app.conf.include or ())
    found = {getattr(task, "__module__", None) for task in app.tasks.values()}
    added = sorted(m for m in found if m and m != "__main__" and m not in given)
    app.conf.include = (*given, *added)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``**`` (as Celery shows broker URLs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":**@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


#: Celery's name of the worker class (``celery.worker.worker.WorkController``).
WorkController = Worker
