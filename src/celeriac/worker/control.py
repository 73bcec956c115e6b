"""Remote control ("pidbox"): the worker's mailbox and Celery's control command handlers.

The mailbox subscribes to the fanout exchange ``<control_exchange>.pidbox``, decides
whether a request is for this node (``destination``, else ``pattern``/``matcher``), runs
the handler named by ``method`` with ``arguments``, and replies ``{node: result}`` to the
client's reply queue when the request has ``reply_to``. A failing handler (an unknown
method too) replies ``{"error": "<repr(exc)>"}``; ``shutdown`` never replies.

Who answers: in ``-P threads``/``solo`` the mailbox runs on the consumer's event loop
(:class:`ConsumerNode`). Under prefork the PARENT answers for the node
(:class:`PreforkNode`, on a thread of its own, :class:`ControlThread`): it owns the
revoked set (children see new revokes through shared memory, see
:mod:`celeriac.worker.revoked`), reads what children run from their slot tables, and
terminates a task by killing the child that runs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import resource
import signal as signal_module
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from celeriac import states
from celeriac.exceptions import TaskRevokedError
from celeriac.protocol.control import (
    ControlRequest,
    build_reply,
    exchange_names,
    node_matches,
    parse_request,
)
from celeriac.transports.base import Subscription, Transport
from celeriac.worker.revoked import RevokedSet, StateDB

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.pools.prefork import ProcessPool
    from celeriac.worker.consumer import Consumer
    from celeriac.worker.job import Job

__all__ = [
    "ConsumerNode",
    "ControlThread",
    "Mailbox",
    "PreforkNode",
    "apply_setting",
    "handlers",
    "start_mailbox",
]

logger = logging.getLogger("celeriac.worker.control")

#: States the 5.7 ``revoke`` overwrites with REVOKED at once for tasks not running here.
REVOCABLE_STATES = frozenset({states.PENDING, states.RECEIVED, states.RETRY, states.REJECTED})


def ok(value: Any) -> dict[str, Any]:
    """Celery's success reply shape."""
    return {"ok": value}


def nok(value: Any) -> dict[str, Any]:
    """Celery's failure reply shape."""
    return {"error": value}


def _set_repr(ids: list[str]) -> str:
    """A Python set's repr (Celery's revoke reply prints one)."""
    return "{" + ", ".join(repr(i) for i in ids) + "}" if ids else "set()"


class ShutdownRequested(Exception):
    """Raised by the ``shutdown`` handler: the mailbox stops the worker and sends no reply."""


class ControlNode(Protocol):
    """What the handlers need from the worker they answer for."""

    app: Celery
    hostname: str
    revoked: RevokedSet
    statedb: StateDB | None
    started_at: float
    clock: int
    queues: list[str]

    def active(self) -> list[dict[str, Any]]: ...
    def reserved(self) -> list[dict[str, Any]]: ...
    def scheduled(self) -> list[dict[str, Any]]: ...
    def running_ids(self) -> set[str]: ...
    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]: ...
    def shutdown(self) -> None: ...
    def pool_info(self) -> dict[str, Any]: ...
    def totals(self) -> dict[str, int]: ...
    def prefetch_count(self) -> int: ...
    def set_rate_limit(self, task_name: str, rate: Any) -> Any: ...


def request_info(job: Job, hostname: str, pid: int | None, safe: bool = False) -> dict[str, Any]:
    """Celery's request-info dict for ``active``/``reserved``/``scheduled``."""
    call = job.call
    info = job.request.delivery_info or {}
    args: Any = call.args
    kwargs: Any = call.kwargs
    if safe:
        args, kwargs = call.argsrepr or repr(call.args), call.kwargsrepr or repr(call.kwargs)
    return {
        "id": call.id,
        "name": call.name,
        "args": args,
        "kwargs": kwargs,
        "type": call.name,
        "hostname": hostname,
        "time_start": job.time_start,
        "acknowledged": job.settled,
        "delivery_info": {
            "exchange": info.get("exchange", ""),
            "routing_key": info.get("routing_key", job.delivery.queue),
            "priority": info.get("priority", call.priority),
            "redelivered": bool(info.get("redelivered", False)),
        },
        "worker_pid": pid if job.started else None,
    }


class ConsumerNode:
    """The node of an in-process worker (``-P threads``/``solo``, ``start_worker``)."""

    def __init__(
        self,
        consumer: Consumer,
        *,
        statedb: StateDB | None = None,
        pool: str = "threads",
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.app = consumer.app
        self.hostname = consumer.config.hostname
        self.queues = list(consumer.config.queues)
        self.revoked = consumer.revoked
        self.statedb = statedb
        self.pool = pool
        self.started_at = time.monotonic()
        self.clock = 0
        self._on_shutdown = on_shutdown

    def _jobs(self) -> list[Job]:
        return [job for job, runner in list(self.consumer.live.values()) if not runner.done()]

    def active(self) -> list[dict[str, Any]]:
        return [request_info(j, self.hostname, os.getpid()) for j in self._jobs() if j.started]

    def reserved(self) -> list[dict[str, Any]]:
        return [
            request_info(j, self.hostname, None)
            for j in self._jobs()
            if not j.started and not self._has_eta(j)
        ]

    def scheduled(self) -> list[dict[str, Any]]:
        return [
            {
                "eta": j.call.eta.isoformat() if j.call.eta else None,
                "priority": j.call.priority or 0,
                "request": request_info(j, self.hostname, None),
            }
            for j in self._jobs()
            if not j.started and self._has_eta(j)
        ]

    @staticmethod
    def _has_eta(job: Job) -> bool:
        return job.call.eta is not None and job.call.eta.timestamp() > time.time()

    def running_ids(self) -> set[str]:
        return {job.call.id for job in self._jobs()}

    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]:
        return self.consumer.revoke(task_ids, terminate=terminate)

    def shutdown(self) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        else:
            self.consumer.stop()

    def pool_info(self) -> dict[str, Any]:
        config = self.consumer.config
        return {
            "implementation": f"celeriac.pools.{self.pool}",
            "max-concurrency": config.concurrency,
            "processes": [os.getpid()],
            "max-tasks-per-child": config.max_tasks or "N/A",
            "put-guarded-by-semaphore": False,
            "timeouts": _timeouts(self.app),
        }

    def totals(self) -> dict[str, int]:
        return dict(getattr(self.consumer, "totals", {}) or {})

    def prefetch_count(self) -> int:
        config = self.consumer.config
        return config.concurrency * max(1, config.prefetch_multiplier)

    def set_rate_limit(self, task_name: str, rate: Any) -> Any:
        setter = getattr(self.consumer, "set_rate_limit", None)
        if setter is None:
            raise NotImplementedError("rate_limit: this worker cannot change rate limits yet")
        return setter(task_name, rate)


class PreforkNode:
    """The node of a prefork worker, answered by the parent (which runs no tasks)."""

    def __init__(
        self,
        app: Celery,
        hostname: str,
        pool: ProcessPool,
        revoked: RevokedSet,
        *,
        statedb: StateDB | None = None,
        prefetch: int = 0,
        queues: list[str] | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.queues = list(queues or [])
        self.pool = pool
        self.revoked = revoked
        self.statedb = statedb
        self.started_at = time.monotonic()
        self.clock = 0
        self._prefetch = prefetch
        self._on_shutdown = on_shutdown

    def _running(self) -> list[tuple[int, dict[str, Any]]]:
        found: list[tuple[int, dict[str, Any]]] = []
        for child in list(self.pool.children.values()):
            try:
                records = child.running
            except (ValueError, OSError):  # its table was just closed
                continue
            found.extend((child.pid, record) for record in records.values())
        return found

    def active(self) -> list[dict[str, Any]]:
        return [
            {
                "id": record.get("id"),
                "name": record.get("name"),
                "args": [],
                "kwargs": {},
                "type": record.get("name"),
                "hostname": self.hostname,
                "time_start": record.get("time"),
                "acknowledged": not record.get("acks_late", True),
                "delivery_info": {
                    "exchange": "",
                    "routing_key": record.get("queue"),
                    "priority": 0,
                    "redelivered": False,
                },
                "worker_pid": pid,
            }
            for pid, record in self._running()
        ]

    def reserved(self) -> list[dict[str, Any]]:
        return []  # prefetched messages live in the children; not reported yet

    def scheduled(self) -> list[dict[str, Any]]:
        return []  # ETA tasks wait in the broker (DESIGN decision 4)

    def running_ids(self) -> set[str]:
        return {str(record.get("id")) for _, record in self._running()}

    async def apply_revoke(
        self, task_ids: list[str], terminate: bool, signum: int
    ) -> dict[str, str]:
        """Children see the ids through shared memory; ``terminate`` kills the child."""
        found: dict[str, str] = {}
        wanted = set(task_ids)
        for child in list(self.pool.children.values()):
            try:
                running = child.running
            except (ValueError, OSError):
                continue
            hits = wanted.intersection(running)
            if not hits:
                continue
            if not terminate:
                found.update(dict.fromkeys(hits, "revoked"))
                continue
            terminated = child.info.setdefault("terminated", set())
            terminated.update(hits)
            child.killed_for = f"terminated by revoke ({', '.join(sorted(hits))})"
            # Our children treat SIGTERM as a warm shutdown (they would finish the
            # task), so the task's process is killed; other signals are sent as given.
            number = signal_module.SIGKILL if signum == signal_module.SIGTERM else signum
            logger.warning(
                "Terminating %s (signal %s): killing %s pid:%d",
                ", ".join(sorted(hits)),
                number,
                child.name,
                child.pid,
            )
            try:
                os.kill(child.pid, number)
            except ProcessLookupError:
                pass
            found.update(dict.fromkeys(hits, "terminated"))
        return found

    def shutdown(self) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        else:
            os.kill(os.getpid(), signal_module.SIGTERM)

    def pool_info(self) -> dict[str, Any]:
        return {
            "implementation": "celeriac.pools.prefork:ProcessPool",
            "max-concurrency": self.pool.size,
            "processes": sorted(self.pool.children),
            "max-tasks-per-child": self.app.conf.worker_max_tasks_per_child or "N/A",
            "put-guarded-by-semaphore": False,
            "timeouts": _timeouts(self.app),
        }

    def totals(self) -> dict[str, int]:
        return {}  # counted in the children; not gathered yet

    def prefetch_count(self) -> int:
        return self._prefetch

    def set_rate_limit(self, task_name: str, rate: Any) -> Any:
        from celeriac.worker.consumer import Consumer

        if not hasattr(Consumer, "set_rate_limit"):
            raise NotImplementedError("rate_limit: this worker cannot change rate limits yet")
        self.revoked.relay("rate_limit", {"task_name": task_name, "rate_limit": rate})
        return None


def apply_setting(consumer: Consumer, method: str, arguments: dict[str, Any]) -> None:
    """A prefork child: apply a setting change its parent relayed (``time_limit``, …)."""
    app = consumer.app
    name = arguments.get("task_name")
    if not name or name not in app.tasks:
        return
    try:
        if method == "time_limit":
            task = app.tasks[name]
            task.time_limit = arguments.get("hard")
            task.soft_time_limit = arguments.get("soft")
        elif method == "rate_limit":
            setter = getattr(consumer, "set_rate_limit", None)
            if setter is not None:
                setter(name, arguments.get("rate_limit"))
    except Exception as exc:
        logger.error("Applying %s(%s) failed: %r", method, arguments, exc)


def _timeouts(app: Celery) -> list[float]:
    return [app.conf.task_soft_time_limit or 0, app.conf.task_time_limit or 0]


# -- handlers -------------------------------------------------------------------------
Handler = Callable[..., Awaitable[Any]]
handlers: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register a control command under Celery's name."""

    def register(func: Handler) -> Handler:
        handlers[name] = func
        return func

    return register


@handler("ping")
async def ping(node: ControlNode, **_: Any) -> Any:
    return ok("pong")


def _ids(task_id: Any) -> list[str]:
    if task_id is None:
        return []
    if isinstance(task_id, str):
        return [task_id]
    return [str(item) for item in task_id]


def _signum(value: Any) -> int:
    if value is None or value == "":
        return int(signal_module.SIGTERM)
    if isinstance(value, int):
        return value
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal_module.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


async def _mark_revoked_in_backend(node: ControlNode, ids: list[str]) -> None:
    """Celery 5.7: write REVOKED now for tasks not running here that have not started."""
    app = node.app
    backend = app.backend
    if not backend.stores_results:
        return
    running = node.running_ids()

    def run() -> None:
        for task_id in ids:
            if task_id in running:
                continue
            meta = backend.get(task_id)
            state = (meta or {}).get("status", states.PENDING)
            if state in REVOCABLE_STATES:
                backend.store(
                    task_id,
                    app.result_meta(task_id, states.REVOKED, TaskRevokedError("revoked")),
                )

    try:
        await asyncio.to_thread(run)
    except Exception as exc:
        logger.warning("Storing REVOKED for %s failed: %r", ", ".join(ids), exc)


@handler("revoke")
async def revoke(
    node: ControlNode,
    task_id: Any = None,
    terminate: bool = False,
    signal: Any = None,
    **_: Any,
) -> Any:
    ids = _ids(task_id)
    signum = _signum(signal)
    node.revoked.add(ids)
    if node.statedb is not None:
        await asyncio.to_thread(node.statedb.add, ids)
    found = await node.apply_revoke(ids, bool(terminate), signum)
    await _mark_revoked_in_backend(node, ids)
    if terminate:
        terminated = [i for i, what in found.items() if what == "terminated"]
        stuck = [i for i, what in found.items() if what == "not terminable"]
        if stuck:
            text = "terminate: " + ", ".join(terminated) if terminated else "terminate:"
            return ok(
                f"{text} not terminable: {', '.join(stuck)} (a sync task running on a "
                "thread cannot be stopped; it is revoked and runs to completion)"
            )
        if not terminated:
            return ok("terminate: tasks unknown")
        return ok("terminate: " + ", ".join(terminated))
    logger.info("Tasks flagged as revoked: %s", ", ".join(ids))
    return ok(f"tasks {_set_repr(ids)} flagged as revoked")


@handler("terminate")
async def terminate(node: ControlNode, signal: Any = None, task_id: Any = None, **_: Any) -> Any:
    return await revoke(node, task_id=task_id, terminate=True, signal=signal)


@handler("revoked")
async def revoked(node: ControlNode, **_: Any) -> Any:
    return node.revoked.ids()


@handler("active")
async def active(node: ControlNode, safe: Any = None, **_: Any) -> Any:
    items = node.active()
    if safe:
        for item in items:
            item["args"], item["kwargs"] = repr(item["args"]), repr(item["kwargs"])
    return items


@handler("reserved")
async def reserved(node: ControlNode, **_: Any) -> Any:
    return node.reserved()


@handler("scheduled")
async def scheduled(node: ControlNode, **_: Any) -> Any:
    return node.scheduled()


@handler("query_task")
async def query_task(node: ControlNode, ids: Any = None, **_: Any) -> Any:
    wanted = set(_ids(ids))
    found: dict[str, Any] = {}
    for info in node.active():
        if info["id"] in wanted:
            found[info["id"]] = ["active", info]
    for info in node.reserved():
        if info["id"] in wanted:
            found[info["id"]] = ["reserved", info]
    for item in node.scheduled():
        if item["request"]["id"] in wanted:
            found[item["request"]["id"]] = ["scheduled", item["request"]]
    return found


@handler("registered")
async def registered(node: ControlNode, taskinfoitems: Any = None, **_: Any) -> Any:
    attrs = list(taskinfoitems or [])
    out = []
    for name in sorted(node.app.tasks.regular()):
        task = node.app.tasks[name]
        fields = [
            f"{attr}={getattr(task, attr)}"
            for attr in attrs
            if getattr(task, attr, None) is not None
        ]
        out.append(f"{name} [{' '.join(fields)}]" if fields else name)
    return out


def _broker_info(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "hostname": parts.hostname,
        "userid": parts.username,
        "virtual_host": parts.path.lstrip("/") or "/",
        "port": parts.port,
        "insist": False,
        "ssl": parts.scheme in ("rediss", "amqps"),
        "transport": parts.scheme.split("+")[0] or "sqlite",
        "connect_timeout": 4,
        "transport_options": {},
        "login_method": None,
        "uri_prefix": None,
        "heartbeat": 120.0,
        "failover_strategy": "round-robin",
        "alternates": [],
    }


_RUSAGE_FIELDS = (
    *("utime", "stime", "maxrss", "ixrss", "idrss", "isrss", "minflt", "majflt"),
    *("nswap", "inblock", "oublock", "msgsnd", "msgrcv", "nsignals", "nvcsw", "nivcsw"),
)


def _rusage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {name: getattr(usage, f"ru_{name}") for name in _RUSAGE_FIELDS}


@handler("stats")
async def stats(node: ControlNode, **_: Any) -> Any:
    return {
        "total": node.totals(),
        "pid": os.getpid(),
        "clock": str(node.clock),
        "uptime": int(time.monotonic() - node.started_at),
        "pool": node.pool_info(),
        "broker": _broker_info(node.app.broker_url),
        "prefetch_count": node.prefetch_count(),
        "rusage": _rusage(),
    }


@handler("active_queues")
async def active_queues(node: ControlNode, **_: Any) -> Any:
    queues = node.queues or [node.app.conf.task_default_queue]
    return [
        {
            "name": name,
            "exchange": {
                "name": name,
                "type": "direct",
                "arguments": None,
                "durable": True,
                "passive": False,
                "auto_delete": False,
                "delivery_mode": None,
                "no_declare": False,
            },
            "routing_key": name,
            "queue_arguments": None,
            "binding_arguments": None,
            "consumer_arguments": None,
            "durable": True,
            "exclusive": False,
            "auto_delete": False,
            "no_ack": False,
            "alias": None,
            "bindings": [],
            "no_declare": None,
            "expires": None,
            "message_ttl": None,
            "max_length": None,
            "max_length_bytes": None,
            "max_priority": None,
        }
        for name in queues
    ]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _masked(key: str, value: Any) -> Any:
    secret = any(word in key.lower() for word in ("password", "secret", "key", "token", "url"))
    if isinstance(value, str) and secret and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            return value.replace(f":{parts.password}@", ":********@")
        return value
    if secret and "url" not in key.lower() and value:
        return "********"
    return value


@handler("conf")
async def conf(node: ControlNode, with_defaults: bool = False, **_: Any) -> Any:
    settings = node.app.conf
    items = settings.items() if with_defaults else _changed(settings)
    return {key: _jsonable(_masked(key, value)) for key, value in items}


def _changed(settings: Any) -> list[tuple[str, Any]]:
    changes = getattr(settings, "changes", None)
    if callable(changes):
        return list(changes().items())
    return [(k, v) for k, v in settings.items() if v is not None]


@handler("report")
async def report(node: ControlNode, **_: Any) -> Any:
    from celeriac import __version__

    lines = [
        f"software -> celeriac:{__version__} py:{platform.python_version()}",
        f"platform -> system:{platform.system()} arch:{platform.machine()}"
        f" kernel version:{platform.release()} imp:{platform.python_implementation()}",
        f"settings -> transport:{urlsplit(node.app.broker_url).scheme}"
        f" results:{node.app.result_backend_url.split('://')[0]}",
        "",
    ]
    changed = await conf(node)
    lines += [f"{key}: {value!r}" for key, value in changed.items()]
    return ok("\n" + "\n".join(lines) + "\n")


@handler("clock")
async def clock(node: ControlNode, **_: Any) -> Any:
    return {"clock": node.clock}


@handler("hello")
async def hello(node: ControlNode, from_node: str | None = None, **_: Any) -> Any:
    if from_node == node.hostname:
        return None
    return {"revoked": node.revoked.ids(), "clock": node.clock}


@handler("enable_events")
async def enable_events(node: ControlNode, **_: Any) -> Any:
    return ok("task events enabled")


@handler("disable_events")
async def disable_events(node: ControlNode, **_: Any) -> Any:
    return ok("task events disabled")


@handler("heartbeat")
async def heartbeat(node: ControlNode, **_: Any) -> Any:
    return None


@handler("rate_limit")
async def rate_limit(
    node: ControlNode, task_name: str | None = None, rate_limit: Any = None, **_: Any
) -> Any:
    if not task_name or task_name not in node.app.tasks:
        return nok("unknown task")
    try:
        result = node.set_rate_limit(task_name, rate_limit)
    except NotImplementedError as exc:
        return nok(str(exc))
    except ValueError as exc:
        return nok(f"Invalid rate limit string: {exc}")
    if isinstance(result, dict):
        return result
    if not rate_limit:
        return ok("rate limit disabled successfully")
    return ok("new rate limit set successfully")


@handler("time_limit")
async def time_limit(
    node: ControlNode,
    task_name: str | None = None,
    hard: float | None = None,
    soft: float | None = None,
    **_: Any,
) -> Any:
    if not task_name or task_name not in node.app.tasks:
        return nok("unknown task")
    task = node.app.tasks[task_name]
    task.time_limit = hard
    task.soft_time_limit = soft
    node.revoked.relay("time_limit", {"task_name": task_name, "hard": hard, "soft": soft})
    logger.info("New time limits for tasks of type %s: soft=%s hard=%s", task_name, soft, hard)
    return ok("time limits set successfully")


@handler("shutdown")
async def shutdown(node: ControlNode, msg: str = "Got shutdown from remote", **_: Any) -> Any:
    logger.warning("%s", msg)
    raise ShutdownRequested(msg)


# -- the mailbox ----------------------------------------------------------------------
class Mailbox:
    """Subscribes to the control exchange and answers requests for ``node``."""

    def __init__(self, node: ControlNode, transport: Transport) -> None:
        self.node = node
        self.app = node.app
        self.transport = transport
        control = str(self.app.conf.control_exchange or "celery")
        self.exchange, self.reply_exchange = exchange_names(control)
        self.queue = f"{node.hostname}.{self.exchange}"
        self.accept = list(self.app.conf.accept_content or ["json"])
        self.serializer = str(self.app.conf.task_serializer or "json")
        self.clock = 0
        self.ready = asyncio.Event()
        self._stopping = False
        self._subscription: Subscription | None = None

    async def _subscribe(self) -> Subscription:
        return await self.transport.subscribe_fanout(self.exchange, "", queue=self.queue)

    async def run(self) -> None:
        """Answer requests until :meth:`stop` (resubscribing after broker errors)."""
        failures = 0
        while not self._stopping:
            try:
                if self._subscription is None:
                    self._subscription = await self._subscribe()
                    self.ready.set()
                message = await self._subscription.get(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning("Remote control: broker error %r; resubscribing", exc)
                await self._drop_subscription()
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            failures = 0
            if message is not None:
                await self.dispatch(message)
        await self._drop_subscription()

    async def _drop_subscription(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.aclose()
            except Exception:
                pass

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopping = True

    async def dispatch(self, message: Any) -> Any:
        """Handle one request message; return the result (None when not for this node)."""
        try:
            request = parse_request(message, accept=self.accept)
        except Exception as exc:
            logger.error("Remote control: ignoring a malformed request: %s", exc)
            return None
        if not node_matches(request, self.node.hostname):
            return None
        self.clock = max(self.clock, request.clock) + 1
        self.node.clock = self.clock
        logger.debug("Remote control: %s(%s)", request.method, request.arguments)
        try:
            result = await self.handle(request)
        except ShutdownRequested:
            self.node.shutdown()
            self.stop()
            return None
        await self._reply(request, result)
        return result

    async def handle(self, request: ControlRequest) -> Any:
        """Run the handler; errors (an unknown method too) become ``{"error": repr}``."""
        try:
            func = handlers[request.method]
        except KeyError as exc:
            return nok(repr(exc))
        try:
            return await func(self.node, **request.arguments)
        except ShutdownRequested:
            raise
        except Exception as exc:
            logger.error("Remote control command %s failed: %r", request.method, exc)
            return nok(repr(exc))

    async def _reply(self, request: ControlRequest, result: Any) -> None:
        if request.reply_to is None:
            return
        self.clock += 1
        reply = build_reply(
            self.node.hostname,
            result,
            ticket=request.ticket,
            clock=self.clock,
            serializer=self.serializer,
        )
        try:
            await self.transport.apublish_routed(
                reply,
                str(request.reply_to.get("exchange") or self.reply_exchange),
                str(request.reply_to["routing_key"]),
            )
        except Exception as exc:
            logger.error("Remote control: replying to %s failed: %r", request.method, exc)


async def start_mailbox(node: ControlNode, transport: Transport | None = None) -> MailboxHandle:
    """Start a mailbox for ``node`` on the running loop; returns once it is subscribed."""
    owned = False
    if transport is None:
        transport = node.app.new_transport()
        owned = transport is not node.app.transport  # memory:// shares the app's
    mailbox = Mailbox(node, transport)
    task = asyncio.get_running_loop().create_task(mailbox.run(), name="remote-control")
    ready = asyncio.get_running_loop().create_task(mailbox.ready.wait())
    await asyncio.wait({task, ready}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        logger.warning("Remote control is not subscribed yet (broker slow or down)")
    return MailboxHandle(mailbox, task, close_transport=owned)


class MailboxHandle:
    """A running mailbox task."""

    def __init__(
        self, mailbox: Mailbox, task: asyncio.Task[None], *, close_transport: bool = False
    ) -> None:
        self.mailbox = mailbox
        self.task = task
        self._close_transport = close_transport

    async def stop(self) -> None:
        """Stop answering and wait for the task."""
        self.mailbox.stop()
        try:
            await asyncio.wait_for(self.task, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
        except Exception as exc:
            logger.debug("remote control ended with %r", exc)
        if self._close_transport:
            try:
                await self.mailbox.transport.aclose()
            except Exception as exc:
                logger.debug("closing the remote-control connection failed: %r", exc)


class ControlThread:
    """The prefork parent's mailbox, on a thread with an event loop of its own."""

    def __init__(self, node: ControlNode) -> None:
        self.node = node
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: MailboxHandle | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="celeriac-control", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; return once subscribed (or after ``timeout``)."""
        self._thread.start()
        self._ready.wait(timeout)

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        transport = self.node.app.new_transport()

        async def main() -> None:
            self._handle = await start_mailbox(self.node, transport)
            self._ready.set()
            await self._handle.task

        try:
            loop.run_until_complete(main())
        except Exception as exc:
            logger.error("Remote control stopped: %r", exc)
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(transport.aclose())
            except Exception:
                pass
            loop.close()

    def stop(self) -> None:
        """Stop the mailbox and wait for the thread (nothing to do if it never started)."""
        if not self._thread.is_alive():
            return
        loop, handle = self._loop, self._handle
        if loop is not None and handle is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(handle.mailbox.stop)
            except RuntimeError:
                pass
        self._thread.join(timeout=5.0)
