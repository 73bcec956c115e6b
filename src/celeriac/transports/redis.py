"""The Redis broker (redis, rediss, redis+socket and sentinel URLs) on kombu's layout.

Layout (kombu's, so Celery and celeriac clients share queues; every key carries
``global_keyprefix``):

* a queue is up to four lists: ``<queue>`` for priorities 0-2, ``<queue>\\x06\\x163``,
  ``…6`` and ``…9`` (``priority_steps``, ``sep``). Producers ``LPUSH`` kombu's JSON
  envelope; consumers take from the right end.
* ``_kombu.binding.<exchange>`` and ``_kombu.binding_permanent.<exchange>`` get the member
  ``routing_key SEP SEP queue`` when this client first publishes to or consumes a queue
  (as Celery declares its queues), so Celery publishers and kombu's restore can route to
  it.
* a delivered message is recorded in the ``unacked`` hash (tag → JSON ``[envelope,
  exchange, routing_key]``, byte for byte what kombu writes) and the ``unacked_index``
  sorted set (tag → delivery time). Whoever finds an entry older than
  ``visibility_timeout`` (holding ``unacked_mutex``) pushes it back with RPUSH and the
  ``redelivered`` flags, as kombu does: a Celery worker restores ours and we restore its.

Priorities: on Redis, kombu serves step 0 first, so priority 0 is the most urgent and 9
the least (Celery documents this, and it is the opposite of RabbitMQ). A Celery producer's
``priority=9`` lands in ``<queue>\\x06\\x169`` and both a Celery worker and this transport
run it last; celeriac's ``priority=9`` is the same message on the wire, so it runs last
too. The transport contract's "higher runs first" therefore does not hold on Redis: we
follow what Celery users of Redis already rely on, and what a queue shared by Celery and
celeriac workers needs. Lists are served priority-major across queues (step 0 of every
queue, then step 3 …), queues in ``queue_order_strategy`` order (``round_robin`` by
default, as kombu; ``priority`` keeps the given order, ``sorted`` sorts).

What celeriac adds (extra keys Celery ignores):

* **Atomic consume.** kombu pops (BRPOP) and then records the delivery in a second
  round trip: a worker dying in between loses the message. Here one Lua script (LEASE)
  reads up to ``limit`` messages across all lists, records each in ``unacked`` /
  ``unacked_index``, its owner (``celeriac.owners``) and its delivery count
  (``celeriac.deliveries``), and only then trims the lists.
* **Waking at once.** An idle fetch must not poll to start a task within a millisecond.
  It runs LEASE once; when nothing is there it hands the wait to *blockers*: for the
  plain list of each consumed queue (up to 8 queues), a connection of its own sends
  ``BLMOVE <queue> <inflight list> RIGHT LEFT`` with ``EVALSHA LEASE`` pipelined behind
  it. BLMOVE moves a pushed message atomically to this consumer's inflight list
  (``celeriac.inflight SEP <consumer> SEP <queue>``); Redis runs the queued LEASE the
  moment BLMOVE returns (LEASE stamps times with the server clock for that reason), and
  LEASE takes the inflight list first: one network trip from a producer's LPUSH to the
  waiting fetch, and the message is never only in a client's memory. When BLMOVE times
  out (``polling_interval``, 0.1 s; Redis checks such timeouts every 100 ms) the same
  LEASE runs anyway, which is how priority sub-lists, queues past the eighth and ETA
  entries other producers add are picked up while idle. Blockers outlive the fetch that
  started them, so a fetch returns at its own deadline (or is cancelled) to the
  millisecond; what a blocker leases after its fetch is gone goes straight back to the
  front of the queue, uncounted. Each inflight list has a heartbeat in the
  ``celeriac.consumers`` sorted set, renewed by every LEASE; any consumer finding one
  30 s overdue pushes that list back to its queue, so a consumer dying with a message
  in flight loses nothing. On close, blockers are unblocked (``CLIENT UNBLOCK``) and
  their lists given back.
* **Leases.** ``renew`` moves the ``unacked_index`` score of held messages to now (``ZADD
  XX``), so a live worker's long task is never restored (kombu#337); only a dead worker's
  messages come back after ``visibility_timeout``. Consumers look for expired leases at
  most every second (or a quarter of the timeout), not every 100 s as kombu does.
* **Delivery limit.** Every lease increments ``celeriac.deliveries[tag]``; a message
  delivered ``max_deliveries`` times without an ack goes to the ``celeriac.dead_letters``
  stream (queue, reason, payload, time, task id and name) instead, in the same script.
* **ETA in Redis.** ETA messages are LPUSHed like any other (the ``eta`` header says
  when), exactly as Celery's producers do, so a Celery worker on the queue runs them. A
  celeriac worker that takes one more than a couple of seconds early parks it (``defer``,
  one script: off ``unacked``, uncounted) in the sorted set ``<queue> SEP eta`` scored by
  due time; LEASE moves due ones back to the front of their list for any consumer. So
  ETA tasks wait in Redis, not in worker memory, and nothing depends on who consumes.
* **Bookkeeping sweep.** A message kombu restored and a Celery worker acked never gets a
  celeriac ack, so consumers sweep ``celeriac.owners`` (an entry goes once its message is
  not leased) and ``celeriac.deliveries`` (a count goes once its message has been unleased
  for ``delivery_count_ttl``, a day), one page a minute; see :meth:`RedisTransport.sweep`.
* **Garbage.** A list item that is not a JSON object is leased under a made-up tag in
  ``celeriac.unacked_raw`` (never in kombu's ``unacked``, which kombu would choke on) and
  handed out as ``Delivery(message=None, raw=…, error=…)``.

Needs Redis 6.2 or later (BLMOVE, ``ZRANGE … BYSCORE REV``, as kombu 5.7 does); not
Redis Cluster (the scripts name the keys of dead consumers' inflight lists themselves).

Connection errors: a fetch keeps trying with exponential backoff and jitter (one log line
when the broker is lost, one when it is back) and returns ``[]`` at its deadline, so a
worker rides out a Redis restart. Consumer-side writes (ack, renew …) retry for up to
``connection_retry_window`` (60 s). Producers get :class:`BrokerError` at once (redis-py
retries a stale pooled connection twice first); the app's ``retry_policy`` decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.retry
import redis.backoff
import redis.connection
import redis.exceptions
import redis.retry
import redis.sentinel

from celeriac.exceptions import BrokerError, DecodeError, ImproperlyConfigured
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.transports import redis_ratelimit
from celeriac.transports import redis_scripts as scripts
from celeriac.transports.base import DeadLetter, Delivery, Transport, TransportOptions
from celeriac.transports.redis_fanout import RedisFanout
from celeriac.transports.redis_lock import RedisLockMixin
from celeriac.utils.redis_url import (
    RedisTarget,
    connection_class,
    connection_kwargs,
    parse_redis_url,
    pool_kwargs,
    redacted_url,
    sentinel_master_kwargs,
)

__all__ = ["RedisTransport"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
#: Seconds an inflight list may go without a heartbeat before others give it back.
HEARTBEAT_TTL = 30.0
#: Most queues that get a blocking connection of their own per consumer.
MAX_BLOCKERS = 8
#: Most messages one LEASE call takes.
MAX_BATCH = 1000
#: Dead letters kept in the stream (approximately).
DEAD_LETTER_MAXLEN = 10_000
#: Most expired leases restored per pass.
RESTORE_BATCH = 1000
#: Backoff between reconnection attempts, in seconds.
BACKOFF_START = 0.1
BACKOFF_MAX = 5.0

#: Failures that mean "the broker cannot be reached right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,
    OSError,
)


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _decode(tag: str, queue: str, count: int, raw: bytes) -> Delivery:
    try:
        message = loads_envelope(raw)
    except (DecodeError, ValueError, TypeError) as exc:
        return Delivery(None, queue, tag, count, raw=raw, error=str(exc))
    return Delivery(message, queue, tag, count)


def _task_of(raw: bytes, message: Message | None) -> tuple[str, str]:
    if message is None:
        try:
            message = loads_envelope(raw)
        except (DecodeError, ValueError, TypeError):
            return "", ""
    task_id, task_name = message.headers.get("id"), message.headers.get("task")
    return ("" if task_id is None else str(task_id), "" if task_name is None else str(task_name))


def _clamp_priority(value: Any) -> int:
    try:
        return max(0, min(9, int(value)))
    except (TypeError, ValueError):
        return 0


def restore_payload(value: bytes) -> tuple[bytes, str, str, int] | None:
    """kombu's restore of one ``unacked`` record: the envelope with ``redelivered`` set.

    Returns ``(envelope bytes, exchange, routing_key, priority)``, or None when the record
    is not ``[envelope, exchange, routing_key]``.
    """
    try:
        envelope, exchange, routing_key = json.loads(value)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict):
        return None
    try:
        envelope["headers"]["redelivered"] = True
        envelope["properties"]["delivery_info"]["redelivered"] = True
    except (KeyError, TypeError):
        pass
    properties = envelope.get("properties")
    priority = _clamp_priority(properties.get("priority")) if isinstance(properties, dict) else 0
    payload = json.dumps(envelope).encode("ascii")
    return payload, str(exchange or ""), str(routing_key or ""), priority


def _jittered(delay: float) -> float:
    return delay * random.uniform(0.5, 1.5)


@dataclass(slots=True)
class _Layout:
    """The keys and arguments of LEASE for one ordering of queues."""

    queues: tuple[str, ...]
    keys: list[str]
    args_tail: list[str]
    #: (source list, inflight key, registry member) of each queue with a blocker
    blocked: list[tuple[str, str, str]]
    members: frozenset[str]


@dataclass(slots=True, frozen=True)
class _Hints:
    """What a LEASE saw besides the messages it took."""

    dead_lettered: int = 0
    next_eta: float | None = None
    stale_leases: bool = False
    dead_consumers: bool = False


@dataclass(slots=True, eq=False)
class _Waiter:
    """A fetch waiting for a blocker to lease something for it."""

    layout: _Layout
    limit: int
    wake_at: float
    future: asyncio.Future[list[Delivery]]


@dataclass(slots=True, eq=False)
class _Blocker:
    """One connection of its own waiting in BLMOVE (+ LEASE) for a queue's plain list."""

    source: str
    inflight: str
    member: str
    conn: Any = None
    client_id: int | None = None
    task: asyncio.Task[None] | None = None


@dataclass(slots=True, eq=False)
class _LoopState:
    """The asyncio clients of one event loop (a transport may be used from several)."""

    loop: asyncio.AbstractEventLoop
    client: Any
    sentinel: Any
    lease: Any
    ack: Any
    sweep: Any
    return_inflight: Any
    requeue: Any
    dead_letter: Any
    release_lock: Any
    defer: Any
    waiters: deque[_Waiter] = field(default_factory=deque)
    blockers: dict[str, _Blocker] = field(default_factory=dict)
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    #: a blocker's LEASE just emptied these queues (layout members) and saw these hints:
    #: the next fetch of the same queues goes straight back to the blockers
    drained: tuple[frozenset[str], _Hints] | None = None


class RedisTransport(RedisFanout, RedisLockMixin, Transport):
    """A broker on Redis in kombu's layout: Celery clients and celeriac share its queues.

    See the module docstring for the layout and the consume design. Options come from
    ``broker_transport_options`` (``options.extra``) and the URL's query string (which
    wins): ``visibility_timeout``, ``global_keyprefix``, ``queue_order_strategy``,
    ``priority_steps``, ``sep``, ``socket_timeout``, ``socket_connect_timeout``,
    ``max_connections``, ``health_check_interval``, ``polling_interval``,
    ``master_name`` / ``sentinel_kwargs`` (Sentinel), ``broker_use_ssl`` (TLS settings),
    ``unacked_mutex_expire``, ``connection_retry_window``.
    """

    schemes = ("redis", "rediss", "redis+socket", "sentinel")
    crosses_processes = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self.target: RedisTarget = parse_redis_url(url)
        opts: dict[str, Any] = {**self.options.extra, **self.target.query}
        self._opts = opts
        self.prefix = str(opts.get("global_keyprefix") or "")
        self.sep = str(opts.get("sep") or SEP)
        steps = opts.get("priority_steps") or PRIORITY_STEPS
        if isinstance(steps, str):
            steps = [s for s in re.split(r"[,\s]+", steps) if s]
        self.priority_steps: tuple[int, ...] = tuple(sorted({int(s) for s in steps}))
        if not self.priority_steps or self.priority_steps[0] != 0:
            raise ImproperlyConfigured(
                f"priority_steps must start at 0, got {list(self.priority_steps)}"
            )
        self.queue_order_strategy = str(opts.get("queue_order_strategy") or "round_robin")
        if self.queue_order_strategy not in ("round_robin", "priority", "sorted"):
            raise ImproperlyConfigured(
                "queue_order_strategy must be round_robin, priority or sorted, "
                f"not {self.queue_order_strategy!r}"
            )
        self.visibility_timeout = float(
            opts.get("visibility_timeout", self.options.visibility_timeout)
        )
        self.polling_interval = float(opts.get("polling_interval", 0.1))
        self.block_timeout = max(0.01, self.polling_interval)
        self.mutex_expire = float(opts.get("unacked_mutex_expire", 300))
        self.retry_window = float(opts.get("connection_retry_window", 60.0))
        self.restore_interval = min(1.0, max(0.01, self.visibility_timeout / 4))
        #: seconds between two looks (inside LEASE) for expired leases and dead consumers
        self.check_interval = self.restore_interval / 2
        self.max_connections = int(opts.get("max_connections", 10))
        self._conn_kwargs = connection_kwargs(
            self.target, opts, use_ssl=opts.get("broker_use_ssl", opts.get("ssl"))
        )
        self.unacked_key = self.prefix + str(opts.get("unacked_key", "unacked"))
        self.unacked_index_key = self.prefix + str(opts.get("unacked_index_key", "unacked_index"))
        self.unacked_mutex_key = self.prefix + str(opts.get("unacked_mutex_key", "unacked_mutex"))
        self.deliveries_key = self.prefix + "celeriac.deliveries"
        self.owners_key = self.prefix + "celeriac.owners"
        self.dead_letters_key = self.prefix + "celeriac.dead_letters"
        self.registry_key = self.prefix + "celeriac.consumers"
        self.raw_unacked_key = self.prefix + "celeriac.unacked_raw"
        self.raw_index_key = self.prefix + "celeriac.unacked_raw_index"
        self.unleased_key = self.prefix + "celeriac.deliveries_unleased"
        self.sequence_key = self.prefix + "celeriac.sequence"
        self._token = uuid.uuid4().hex[:12]
        self._owner_pid = 0
        self._owner = ""
        self._sync_client: redis.Redis | None = None
        self._sync_pid = 0
        #: each producer thread's own connection for plain LPUSHes (see _fast_lpush)
        self._pushers = threading.local()
        self._pusher_conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self._state: _LoopState | None = None
        self._declared: set[tuple[str, str]] = set()
        self._layouts: dict[tuple[str, ...], _Layout] = {}
        self._rotation: deque[str] = deque()
        #: tags handed out by fetch and not settled since (to reclaim orphans)
        self._held: set[str] = set()
        self._orphans_possible = False
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._retry_delay = BACKOFF_START
        self._next_restore = 0.0
        self._next_sweep = 0.0
        self._next_check = 0.0
        #: bookkeeping sweep: seconds between two pages, TTL of an unleased delivery count
        self.sweep_interval = float(opts.get("bookkeeping_sweep_interval", 60.0))
        self.delivery_count_ttl = float(opts.get("delivery_count_ttl", 86400.0))
        self._next_bookkeeping = time.monotonic() + self.sweep_interval * random.random()
        self._sweep_cursors = {"owners": 0, "counters": 0}
        #: a blocker's LEASE saw expired leases / dead consumers (for the next _maintain)
        self._seen_stale = False
        self._seen_dead = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redacted_url(self.url)!r}>"

    @property
    def consumer_id(self) -> str:
        """This transport's lease owner name in this process: ``host:pid:token``."""
        pid = os.getpid()
        if pid != self._owner_pid:
            self._owner = f"{socket.gethostname()}:{pid}:{self._token}"
            self._owner_pid = pid
        return self._owner

    # -- keys --------------------------------------------------------------------------
    def list_key(self, queue: str, priority: int = 0) -> str:
        """The (prefixed) list a message of ``priority`` goes to, as kombu's ``_q_for_pri``."""
        step = 0
        for candidate in self.priority_steps:
            if candidate <= priority:
                step = candidate
        return f"{self.prefix}{queue}{self.sep}{step}" if step else f"{self.prefix}{queue}"

    def eta_key(self, queue: str) -> str:
        """The sorted set holding ``queue``'s messages that wait for their ETA."""
        return f"{self.prefix}{queue}{self.sep}eta"

    def _inflight(self, member: str) -> str:
        return f"{self.prefix}celeriac.inflight{self.sep}{member}"

    def _binding(self, exchange: str, routing_key: str, queue: str) -> tuple[str, str, str]:
        member = self.sep.join([routing_key, "", queue])
        return (
            f"{self.prefix}_kombu.binding.{exchange}",
            f"{self.prefix}_kombu.binding_permanent.{exchange}",
            member,
        )

    def _bindings_for(self, queue: str, message: Message | None) -> list[tuple[str, str, str]]:
        """Bindings Celery would have declared for ``queue`` (and the message's exchange)."""
        wanted = [(queue, queue)]
        info = message.properties.get("delivery_info") if message is not None else None
        if isinstance(info, dict):
            exchange = info.get("exchange")
            routing_key = info.get("routing_key")
            if exchange and isinstance(exchange, str) and (exchange, routing_key) != wanted[0]:
                wanted.append((exchange, str(routing_key or "")))
        out = []
        for exchange, routing_key in wanted:
            if (exchange, f"{routing_key}:{queue}") not in self._declared:
                out.append(self._binding(exchange, routing_key, queue))
        return out

    def _mark_declared(self, bindings: list[tuple[str, str, str]]) -> None:
        for table, _, member in bindings:
            exchange = table[len(self.prefix) + len("_kombu.binding.") :]
            routing_key, _, queue = member.split(self.sep)
            self._declared.add((exchange, f"{routing_key}:{queue}"))

    # -- clients -----------------------------------------------------------------------
    def _sentinel(self, asynchronous: bool) -> Any:
        master = self._opts.get("master_name")
        if not master:
            raise ImproperlyConfigured(
                "a sentinel:// broker needs broker_transport_options={'master_name': ...}"
            )
        kwargs = sentinel_master_kwargs(self._conn_kwargs)
        sentinel_kwargs = self._opts.get("sentinel_kwargs")
        module = redis.asyncio.sentinel if asynchronous else redis.sentinel
        manager = module.Sentinel(
            list(self.target.sentinels), sentinel_kwargs=sentinel_kwargs, **kwargs
        )
        return manager, str(master)

    def _sync(self) -> redis.Redis:
        """The producer-side client of this process (re-created after ``fork``)."""
        client = self._sync_client
        if client is None or self._sync_pid != os.getpid():
            retry = redis.retry.Retry(redis.backoff.ExponentialBackoff(cap=0.2, base=0.01), 2)
            if self.target.kind == "sentinel":
                manager, master = self._sentinel(asynchronous=False)
                client = manager.master_for(master, redis_class=redis.Redis, retry=retry)
            else:
                pool = redis.connection.ConnectionPool(
                    connection_class=connection_class(self._conn_kwargs, redis.connection),
                    max_connections=max(self.max_connections, 2),
                    retry=retry,
                    **pool_kwargs(self._conn_kwargs),
                )
                client = redis.Redis(connection_pool=pool)
            self._sync_client = client
            self._sync_pid = os.getpid()
        return client

    def _make_state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)
        sentinel = None
        if self.target.kind == "sentinel":
            sentinel, master = self._sentinel(asynchronous=True)
            client = sentinel.master_for(master, redis_class=redis.asyncio.Redis, retry=retry)
        else:
            pool = redis.asyncio.BlockingConnectionPool(
                connection_class=connection_class(self._conn_kwargs, redis.asyncio.connection),
                max_connections=max(self.max_connections, 4),
                timeout=None,
                retry=retry,
                **pool_kwargs(self._conn_kwargs),
            )
            client = redis.asyncio.Redis(connection_pool=pool)
        return _LoopState(
            loop=loop,
            client=client,
            sentinel=sentinel,
            lease=client.register_script(scripts.LEASE),
            ack=client.register_script(scripts.ACK),
            sweep=client.register_script(scripts.SWEEP),
            return_inflight=client.register_script(scripts.RETURN_INFLIGHT),
            requeue=client.register_script(scripts.REQUEUE),
            dead_letter=client.register_script(scripts.DEAD_LETTER),
            release_lock=client.register_script(scripts.RELEASE_LOCK),
            defer=client.register_script(scripts.DEFER),
        )

    async def _blocker_connection(self, state: _LoopState, blocker: _Blocker) -> Any:
        """The blocker's own connection (not pooled: it sits in BLMOVE), and its client id."""
        conn = blocker.conn
        if conn is not None and conn.is_connected and blocker.client_id is not None:
            return conn
        kwargs = pool_kwargs(self._conn_kwargs)
        kwargs["socket_timeout"] = max(
            kwargs.get("socket_timeout") or 0.0, self.block_timeout + 5.0
        )
        kwargs["retry"] = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
        conn_class = connection_class(self._conn_kwargs, redis.asyncio.connection)
        if state.sentinel is not None:
            host, port = await state.sentinel.discover_master(str(self._opts["master_name"]))
            kwargs.pop("path", None)
            kwargs.update(host=host, port=port)
        if conn is not None:
            await conn.disconnect()
        conn = blocker.conn = conn_class(**kwargs)
        await conn.connect()
        await conn.send_command("CLIENT", "ID")
        blocker.client_id = int(await conn.read_response())
        return conn

    def _loop_state(self) -> _LoopState:
        """The asyncio clients of the running loop (new ones for a new loop or process)."""
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            state = self._state = self._make_state(loop)
        return state

    # -- connection errors -----------------------------------------------------------
    def _lost(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self._retry_delay = BACKOFF_START
            logger.warning(
                "Cannot reach the Redis broker at %s: %s; retrying with backoff",
                redacted_url(self.url),
                exc or type(exc).__name__,
            )
        else:
            self._retry_delay = min(self._retry_delay * 2, BACKOFF_MAX)
            logger.debug("Redis broker still unreachable: %r", exc)
        self._retry_at = now + _jittered(self._retry_delay)

    def _restored(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Reconnected to the Redis broker at %s after %.1fs",
                redacted_url(self.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None
            self._retry_delay = BACKOFF_START

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run a consumer-side command, retrying connection errors for ``retry_window``."""
        give_up = time.monotonic() + self.retry_window
        while True:
            if self._down_since is not None:
                await asyncio.sleep(max(0.0, self._retry_at - time.monotonic()))
            try:
                result = await call()
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
                if time.monotonic() >= give_up:
                    raise BrokerError(f"{what} failed: Redis broker unreachable: {exc}") from exc
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"{what} failed: {exc}") from exc
            self._restored()
            return result

    def _sync_call(self, what: str, call: Callable[[redis.Redis], T]) -> T:
        try:
            return call(self._sync())
        except redis.exceptions.RedisError as exc:
            raise BrokerError(
                f"{what} failed on the Redis broker at {redacted_url(self.url)}: {exc}"
            ) from exc

    # -- producer side -----------------------------------------------------------------
    def _prepared(self, message: Message, queue: str, priority: int) -> tuple[bytes, int]:
        priority = _clamp_priority(priority)
        properties = dict(message.properties)
        if not isinstance(properties.get("delivery_info"), dict):
            properties["delivery_info"] = {"exchange": "", "routing_key": queue}
        properties["priority"] = priority
        if properties != message.properties:
            message = Message(
                message.body,
                message.content_type,
                message.content_encoding,
                message.headers,
                properties,
            )
        return dumps_envelope(message), priority

    def _publish_commands(
        self,
        pipe: Any,
        raw: bytes,
        queue: str,
        priority: int,
        eta: float | None,
        bindings: list[tuple[str, str, str]],
    ) -> None:
        for table, permanent, member in bindings:
            pipe.sadd(table, member)
            pipe.sadd(permanent, member)
        # ETA messages go on the list like Celery's (the eta header says when), so a
        # Celery worker sharing the queue runs them too; a celeriac worker that takes one
        # early parks it in the queue's ETA set (defer) instead of holding it.
        pipe.lpush(self.list_key(queue, priority), raw)

    def publish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """LPUSH the envelope to the queue's list (or its ETA set); see :meth:`Transport.publish`.

        ``priority`` picks kombu's priority list: on Redis 0 runs first and 9 last.
        """
        raw, priority = self._prepared(message, queue, priority)
        self.publish_raw(raw, queue, priority=priority, eta=eta, message=message)

    def publish_raw(
        self,
        raw: bytes,
        queue: str,
        *,
        priority: int = 0,
        eta: float | None = None,
        message: Message | None = None,
    ) -> None:
        """Store already-encoded bytes on a queue verbatim (one round trip)."""
        bindings = self._bindings_for(queue, message)
        if not bindings and eta is None and self._fast_lpush(self.list_key(queue, priority), raw):
            return

        def run(client: redis.Redis) -> None:
            if not bindings:
                client.lpush(self.list_key(queue, priority), raw)
                return
            with client.pipeline(transaction=True) as pipe:
                self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                pipe.execute()

        self._sync_call("publish", run)
        self._mark_declared(bindings)

    def _fast_lpush(self, key: str, raw: bytes) -> bool:
        """LPUSH on a connection of this thread's own, past redis-py's command machinery.

        redis-py's pool, retry, event and metrics layers cost more per call than the
        round trip itself (about 150 µs against 60-150 µs), and a producer calling
        ``delay()`` in a loop pays them every time. Returns False when this path does not
        apply (Sentinel) or the connection failed: the caller then publishes the usual
        way, with redis-py's retries, exactly as if this had not been tried (redis-py
        also resends a command whose reply was lost).
        """
        if self.target.kind == "sentinel":
            return False
        local = self._pushers
        conn = getattr(local, "conn", None)
        if conn is None or getattr(local, "pid", 0) != os.getpid():
            pool = self._sync().connection_pool
            conn = local.conn = pool.connection_class(**pool.connection_kwargs)
            local.pid = os.getpid()
            self._pusher_conns.add(conn)
        try:
            conn.send_packed_command(conn.pack_command("LPUSH", key, raw), check_health=False)
            conn.read_response()
        except redis.exceptions.ResponseError as exc:
            raise BrokerError(f"publish failed on the Redis broker: {exc}") from exc
        except (redis.exceptions.RedisError, OSError):
            conn.disconnect()
            local.conn = None
            return False
        return True

    def publish_many(self, items: Sequence[tuple[Message, str, float | None]]) -> None:
        """Publish several ``(message, queue, eta)`` in a few round trips (a group's members).

        Each chunk of 1,000 is one MULTI/EXEC pipeline of :meth:`publish`'s commands.
        """
        prepared = []
        for message, queue, eta in items:
            raw, priority = self._prepared(message, queue, message.priority)
            prepared.append((raw, queue, priority, eta, self._bindings_for(queue, message)))

        def run(client: redis.Redis) -> None:
            for start in range(0, len(prepared), 1000):
                with client.pipeline(transaction=True) as pipe:
                    for raw, queue, priority, eta, bindings in prepared[start : start + 1000]:
                        self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                    pipe.execute()

        self._sync_call("publish", run)
        for *_, bindings in prepared:
            self._mark_declared(bindings)

    async def apublish(
        self, message: Message, queue: str, *, priority: int = 0, eta: float | None = None
    ) -> None:
        """Async twin of :meth:`publish`, on this loop's asyncio client."""
        raw, priority = self._prepared(message, queue, priority)
        bindings = self._bindings_for(queue, message)
        client = self._loop_state().client
        try:
            async with client.pipeline(transaction=bool(bindings)) as pipe:
                self._publish_commands(pipe, raw, queue, priority, eta, bindings)
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"publish failed on the Redis broker: {exc}") from exc
        self._mark_declared(bindings)

    # -- consumer side -----------------------------------------------------------------
    async def open(self) -> None:
        """Check the broker answers, retrying with backoff (``broker_connection_max_retries``)."""
        state = self._loop_state()
        self._closed = False
        max_retries = self._opts.get("broker_connection_max_retries", 100)
        retry_on_startup = self._opts.get("broker_connection_retry_on_startup", True)
        attempt = 0
        while True:
            try:
                await state.client.ping()
            except CONNECTION_ERRORS as exc:
                attempt += 1
                if not retry_on_startup or (max_retries and attempt > int(max_retries)):
                    raise BrokerError(
                        f"cannot connect to the Redis broker at {redacted_url(self.url)}: {exc}"
                    ) from exc
                self._lost(exc)
                await asyncio.sleep(max(0.0, self._retry_at - time.monotonic()))
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"Redis broker at {redacted_url(self.url)}: {exc}") from exc
            self._restored()
            return

    async def aclose(self) -> None:
        """Unblock and stop the blockers, give back what they hold, close connections."""
        self._closed = True
        state = self._state
        if state is None or state.loop is not asyncio.get_running_loop():
            self._state = None
            return
        self._state = None
        for waiter in state.waiters:
            if not waiter.future.done():
                waiter.future.set_result([])
        try:
            await self._stop_blockers(state)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.warning(
                "Closing the Redis consumer: %r (messages in flight come back "
                "when its heartbeat expires)",
                exc,
            )
        if state.background:  # give-backs: let them finish, they hold leases
            await asyncio.gather(*state.background, return_exceptions=True)
        try:
            await state.client.aclose(close_connection_pool=True)
        except Exception:  # closing on a broken connection
            pass

    async def _stop_blockers(self, state: _LoopState) -> None:
        blockers = list(state.blockers.values())
        state.blockers.clear()
        if not blockers:
            return
        clean = True
        for blocker in blockers:
            if blocker.task is None or blocker.task.done():
                continue
            unblocked = False
            if blocker.client_id is not None:
                try:
                    unblocked = bool(await state.client.client_unblock(blocker.client_id))
                except redis.exceptions.ResponseError:  # no permission: cancel instead
                    unblocked = False
                if unblocked:
                    try:
                        await asyncio.wait_for(asyncio.shield(blocker.task), 5.0)
                    except TimeoutError:
                        unblocked = False
            if not unblocked and not blocker.task.done():
                clean = False
                blocker.task.cancel()
                await asyncio.gather(blocker.task, return_exceptions=True)
        for blocker in blockers:
            if blocker.conn is not None:
                try:
                    await blocker.conn.disconnect()
                except Exception:
                    pass
        members = [b.member for b in blockers]
        await state.return_inflight(
            keys=[self.registry_key],
            args=[self.prefix, self.sep, "drop" if clean else "expire", *members],
        )

    def _ordered(self, queues: Sequence[str]) -> tuple[str, ...]:
        unique = tuple(dict.fromkeys(queues))
        if self.queue_order_strategy == "sorted":
            return tuple(sorted(unique))
        if self.queue_order_strategy == "priority" or len(unique) < 2:
            return unique
        if set(self._rotation) != set(unique):
            self._rotation = deque(unique)
        return tuple(self._rotation)

    def _rotate(self, deliveries: Sequence[Delivery]) -> None:
        """Round robin: queues that delivered go to the back of the line (as kombu)."""
        if self.queue_order_strategy != "round_robin" or len(self._rotation) < 2:
            return
        for queue in dict.fromkeys(d.queue for d in deliveries):
            if queue in self._rotation:
                self._rotation.remove(queue)
                self._rotation.append(queue)

    def _layout(self, queues: tuple[str, ...]) -> _Layout:
        layout = self._layouts.get(queues)
        if layout is not None:
            return layout
        consumer = self.consumer_id
        keys = [
            self.unacked_key,
            self.unacked_index_key,
            self.deliveries_key,
            self.owners_key,
            self.dead_letters_key,
            self.registry_key,
            self.raw_unacked_key,
            self.raw_index_key,
            self.sequence_key,
        ]
        members: list[str] = []
        blocked: list[tuple[str, str, str]] = []
        for n, queue in enumerate(queues):
            member = f"{consumer}{self.sep}{queue}" if n < MAX_BLOCKERS else ""
            inflight = self._inflight(member) if member else f"{self.prefix}celeriac.unused"
            keys.append(self.eta_key(queue))
            keys.append(inflight)
            keys.extend(self._queue_keys(queue))
            members.append(member)
            if member:
                blocked.append((f"{self.prefix}{queue}", inflight, member))
        args_tail = [
            self.sep,
            str(len(queues)),
            str(len(self.priority_steps)),
            *(str(s) for s in self.priority_steps),
            *queues,
            *members,
        ]
        if len(self._layouts) > 64:
            self._layouts.clear()
        layout = _Layout(queues, keys, args_tail, blocked, frozenset(m for m in members if m))
        self._layouts[queues] = layout
        return layout

    def _lease_args(self, layout: _Layout, limit: int, *, heartbeat: bool) -> list[Any]:
        """LEASE's arguments; it looks for expired leases only every ``check_interval``."""
        now = time.monotonic()
        check = now >= self._next_check
        if check:
            self._next_check = now + self.check_interval
        return [
            limit,
            self.options.max_deliveries,
            self.consumer_id,
            HEARTBEAT_TTL if heartbeat else 0,
            self.visibility_timeout if check else -1,
            DEAD_LETTER_MAXLEN,
            *layout.args_tail,
        ]

    async def _declare(self, state: _LoopState, queues: Sequence[str]) -> None:
        bindings = [b for queue in queues for b in self._bindings_for(queue, None)]
        if not bindings:
            return
        async with state.client.pipeline(transaction=True) as pipe:
            for table, permanent, member in bindings:
                pipe.sadd(table, member)
                pipe.sadd(permanent, member)
            await pipe.execute()
        self._mark_declared(bindings)

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages (see :meth:`Transport.fetch` and the module doc)."""
        state = self._loop_state()
        self._closed = False
        loop = state.loop
        deadline = loop.time() + max(0.0, timeout)
        limit = max(0, min(int(limit), MAX_BATCH))
        ordered = self._ordered(queues)
        if not ordered or limit == 0:
            await asyncio.sleep(max(0.0, timeout))
            return []
        drained, state.drained = state.drained, None
        while True:
            if self._down_since is not None and not await self._wait_retry(loop, deadline):
                return []
            try:
                if self._orphans_possible:
                    await self._reclaim_orphans(state)
                await self._declare(state, ordered)
                layout = self._layout(ordered)
                if drained is not None and drained[0] == layout.members:
                    # A blocker's LEASE found these queues empty a moment ago: a LEASE
                    # now would find nothing; BLMOVE returns at once if something came.
                    deliveries, hints = list[Delivery](), drained[1]
                else:
                    deliveries, hints = await self._lease(state, layout, limit)
                drained = None
                await self._maintain(state, hints)
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"fetch failed on the Redis broker: {exc}") from exc
            self._restored()
            if not deliveries:
                pause = self._pause(hints, deadline - loop.time())
                if pause <= 0:
                    return []
                deliveries = await self._wait(state, layout, limit, pause)
            if deliveries:
                self._rotate(deliveries)
                return deliveries
            if loop.time() >= deadline:
                return []

    def _pause(self, hints: _Hints, remaining: float) -> float:
        """How long an idle fetch may wait before it must look again itself."""
        pause = remaining
        if hints.next_eta is not None:
            pause = min(pause, max(0.0, hints.next_eta - time.time()))
        now = time.monotonic()
        if hints.stale_leases:
            pause = min(pause, max(0.0, self._next_restore - now))
        if hints.dead_consumers:
            pause = min(pause, max(0.0, self._next_sweep - now))
        return pause

    async def _wait_retry(self, loop: asyncio.AbstractEventLoop, deadline: float) -> bool:
        """Sleep until the next reconnection attempt; False when the deadline comes first."""
        pause = self._retry_at - time.monotonic()
        if pause > 0:
            remaining = deadline - loop.time()
            if remaining <= pause:
                await asyncio.sleep(max(0.0, remaining))
                return False
            await asyncio.sleep(pause)
        return True

    async def _lease(
        self, state: _LoopState, layout: _Layout, limit: int
    ) -> tuple[list[Delivery], _Hints]:
        """Run LEASE; a fetch cancelled meanwhile gives what it took back, uncounted."""
        call = asyncio.ensure_future(
            state.lease(keys=layout.keys, args=self._lease_args(layout, limit, heartbeat=False))
        )
        try:
            reply = await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(lambda done: self._lease_abandoned(state, layout, done))
            raise
        except CONNECTION_ERRORS:
            # The script may have run before the reply was lost: reclaim what it leased.
            self._orphans_possible = True
            raise
        return self._parse_lease(layout, reply)

    def _parse_lease(self, layout: _Layout, reply: list[Any]) -> tuple[list[Delivery], _Hints]:
        flat = reply[0]
        deliveries = []
        for i in range(0, len(flat), 4):
            tag = _text(flat[i])
            queue = layout.queues[int(flat[i + 1]) - 1]
            deliveries.append(_decode(tag, queue, int(flat[i + 2]), bytes(flat[i + 3])))
            self._held.add(tag)
        next_eta = float(reply[2])
        hints = _Hints(
            int(reply[1]), next_eta if next_eta >= 0 else None, bool(reply[3]), bool(reply[4])
        )
        return deliveries, hints

    def _lease_abandoned(self, state: _LoopState, layout: _Layout, call: Any) -> None:
        """A cancelled fetch's LEASE finished anyway: give its messages back uncounted."""
        if call.cancelled():
            return
        if call.exception() is not None:
            self._orphans_possible = True
            return
        self._give_back(state, self._parse_lease(layout, call.result())[0])

    def _give_back(self, state: _LoopState, deliveries: list[Delivery]) -> None:
        """Requeue, uncounted and in the background, deliveries nobody will receive."""
        if not deliveries or state.loop.is_closed():
            return

        async def run() -> None:
            try:
                await self._retrying(
                    "requeue", lambda: self._requeue(state, deliveries, count=False)
                )
            except BrokerError as exc:
                logger.warning(
                    "Could not give back %d leased messages (%s); they return "
                    "after the visibility timeout",
                    len(deliveries),
                    exc,
                )

        task = state.loop.create_task(run())
        state.background.add(task)
        task.add_done_callback(state.background.discard)

    async def _reclaim_orphans(self, state: _LoopState) -> None:
        """After a LEASE whose reply was lost, give back what it leased to us unseen."""
        owned = await self._owned_by(state, self.consumer_id)
        lost = [tag for tag in owned if tag not in self._held]
        if lost:
            await self._give_back_tags(state, lost, self.consumer_id, uncounted=set(lost))
            logger.warning(
                "Gave back %d messages leased while the broker connection was lost", len(lost)
            )
        self._orphans_possible = False

    # -- waiting for a push -------------------------------------------------------------
    async def _wait(
        self, state: _LoopState, layout: _Layout, limit: int, pause: float
    ) -> list[Delivery]:
        """Wait up to ``pause`` for the blockers to lease something for this fetch."""
        waiter = _Waiter(layout, limit, time.time() + pause, state.loop.create_future())
        state.waiters.append(waiter)
        try:
            for source, inflight, member in layout.blocked:
                blocker = state.blockers.get(member)
                if blocker is None:
                    blocker = state.blockers[member] = _Blocker(source, inflight, member)
                if blocker.task is None or blocker.task.done():
                    blocker.task = state.loop.create_task(self._block(state, blocker))
            if layout.blocked:
                await asyncio.wait([waiter.future], timeout=pause)
            else:
                await asyncio.sleep(pause)
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(state, waiter.future.result())
            raise
        finally:
            if waiter in state.waiters:
                state.waiters.remove(waiter)
        if waiter.future.done():
            return waiter.future.result()
        waiter.future.cancel()
        return []

    async def _block(self, state: _LoopState, blocker: _Blocker) -> None:
        """While a fetch waits: BLMOVE then LEASE, pipelined on one connection.

        Redis runs the LEASE right after BLMOVE returns (a message moved to the inflight
        list, or the timeout), so a push reaches the waiting fetch in one network trip.
        """
        try:
            while state.waiters and not self._closed:
                waiter = state.waiters[0]
                layout = waiter.layout
                if blocker.member not in layout.members:
                    return
                conn = await self._blocker_connection(state, blocker)
                keys = layout.keys
                args = self._lease_args(layout, waiter.limit, heartbeat=True)
                await conn.send_packed_command(
                    conn.pack_commands(
                        [
                            (
                                "BLMOVE",
                                blocker.source,
                                blocker.inflight,
                                "RIGHT",
                                "LEFT",
                                self.block_timeout,
                            ),
                            ("EVALSHA", state.lease.sha, len(keys), *keys, *args),
                        ]
                    )
                )
                await conn.read_response()
                try:
                    reply = await conn.read_response()
                except redis.exceptions.NoScriptError:
                    await state.client.script_load(scripts.LEASE)
                    continue
                deliveries, hints = self._parse_lease(layout, reply)
                self._hand_over(state, deliveries, hints)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.debug("Redis blocker for %s stopped: %r", blocker.source, exc)
            blocker.client_id = None
            self._poke(state)  # let the fetch find out (and back off)

    def _hand_over(self, state: _LoopState, deliveries: list[Delivery], hints: _Hints) -> None:
        """Give a blocker's leases to the first waiting fetch, or back to the queue."""
        self._seen_stale = self._seen_stale or hints.stale_leases
        self._seen_dead = self._seen_dead or hints.dead_consumers
        while state.waiters and state.waiters[0].future.done():
            state.waiters.popleft()
        waiter = state.waiters[0] if state.waiters else None
        if deliveries:
            if waiter is not None:
                state.waiters.popleft()
                if len(deliveries) < waiter.limit and waiter.layout.members:
                    state.drained = (waiter.layout.members, hints)
                # A fetch that came after the LEASE was sent may want fewer messages.
                waiter.future.set_result(deliveries[: waiter.limit])
                deliveries = deliveries[waiter.limit :]
            self._give_back(state, deliveries)
            return
        if waiter is None:
            return
        now = time.monotonic()
        if (
            (hints.stale_leases and now >= self._next_restore)
            or (hints.dead_consumers and now >= self._next_sweep)
            or (hints.next_eta is not None and hints.next_eta < waiter.wake_at)
        ):
            state.waiters.popleft()
            waiter.future.set_result([])

    def _poke(self, state: _LoopState) -> None:
        """Make a fetch waiting on this loop look again now (something came back)."""
        while state.waiters:
            waiter = state.waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result([])
                return

    async def _return_inflight(self, state: _LoopState, members: list[str]) -> int:
        moved = await state.return_inflight(
            keys=[self.registry_key], args=[self.prefix, self.sep, "keep", *members]
        )
        return int(moved)

    # -- maintenance -----------------------------------------------------------------------
    async def _maintain(self, state: _LoopState, hints: _Hints) -> None:
        """Restore expired leases and dead consumers' inflight lists, at most once a period.

        The hint may also have come from a blocker's LEASE (which took the turn to look).
        """
        now = time.monotonic()
        if self._seen_stale or self._seen_dead:
            hints = _Hints(
                hints.dead_lettered,
                hints.next_eta,
                hints.stale_leases or self._seen_stale,
                hints.dead_consumers or self._seen_dead,
            )
        if hints.dead_consumers and now >= self._next_sweep:
            self._seen_dead = False
            self._next_sweep = now + 1.0
            moved = await state.return_inflight(
                keys=[self.registry_key], args=[self.prefix, self.sep, "dead", 100]
            )
            if moved:
                logger.warning("Gave back %d messages a dead consumer had in flight", moved)
        if hints.stale_leases and now >= self._next_restore:
            self._seen_stale = False
            self._next_restore = now + self.restore_interval
            await self.restore_visible(state)
        if now >= self._next_bookkeeping:
            self._next_bookkeeping = now + self.sweep_interval
            await self._sweep_page(state, "owners")
            await self._sweep_page(state, "counters")

    async def sweep(self) -> int:
        """Drop every bookkeeping entry of messages no celeriac consumer holds; return how many.

        ``celeriac.owners`` and ``celeriac.deliveries`` are cleaned by celeriac's ack,
        requeue and dead-letter; a message that kombu restored and a Celery worker acked
        never gets those, so consumers also sweep, one page every
        ``bookkeeping_sweep_interval`` (60 s). An owner entry goes as soon as its message
        is not leased; a delivery count once its message has been unleased for
        ``delivery_count_ttl`` (a day: a restored message waiting in a list keeps its
        count). This runs every page at once.
        """
        state = self._loop_state()
        dropped = 0
        for mode in ("owners", "counters"):
            self._sweep_cursors[mode] = 0
            while True:
                dropped += await self._sweep_page(state, mode)
                if self._sweep_cursors[mode] == 0:
                    break
        return dropped

    async def _sweep_page(self, state: _LoopState, mode: str) -> int:
        key = self.owners_key if mode == "owners" else self.deliveries_key
        cursor, fields = await state.client.hscan(key, self._sweep_cursors[mode], count=500)
        self._sweep_cursors[mode] = int(cursor)
        if not fields:
            return 0
        dropped = await state.sweep(
            keys=[
                self.unacked_key,
                self.raw_unacked_key,
                self.owners_key,
                self.deliveries_key,
                self.unleased_key,
            ],
            args=[mode, repr(time.time()), self.delivery_count_ttl, *map(_text, fields)],
        )
        return int(dropped)

    async def restore_visible(self, state: _LoopState | None = None) -> int:
        """Give back every lease older than ``visibility_timeout`` (kombu's ``restore_visible``).

        Takes ``unacked_mutex`` without waiting (skips the round when another client holds
        it), reads the expired tags newest first, and pushes each message back to the
        front of its queue with the ``redelivered`` flags, unless it was renewed or
        settled meanwhile. Returns how many came back.
        """
        state = state or self._loop_state()
        client = state.client
        token = uuid.uuid1().hex
        if not await client.set(
            self.unacked_mutex_key, token, nx=True, px=int(self.mutex_expire * 1000)
        ):
            return 0
        try:
            ceil = time.time() - self.visibility_timeout
            rows = await client.zrange(
                self.unacked_index_key,
                ceil,
                0,
                desc=True,
                byscore=True,
                offset=0,
                num=RESTORE_BATCH,
            )
            raw_tags = await client.zrangebyscore(
                self.raw_index_key, "-inf", ceil, start=0, num=RESTORE_BATCH
            )
            tags = [_text(t) for t in rows]
            items: list[list[Any]] = []
            if tags:
                values = await client.hmget(self.unacked_key, tags)
                missing = [t for t, v in zip(tags, values, strict=True) if v is None]
                if missing:  # an index entry without a record: drop it, as kombu does
                    await client.zrem(self.unacked_index_key, *missing)
                cache: dict[tuple[str, str], list[str]] = {}
                for tag, value in zip(tags, values, strict=True):
                    if value is not None:
                        item = await self._restore_item(state, tag, value, None, cache)
                        if item:
                            items.append(item)
            items.extend([_text(t), "", "", "0", 0] for t in raw_tags)
            if not items:
                return 0
            # Newest first, as kombu: the oldest ends up at the consumer end.
            done = await state.requeue(
                keys=self._requeue_keys(), args=["", repr(ceil), *_flatten(items)]
            )
            if done:
                logger.warning(
                    "Restored %d unacknowledged messages whose lease expired "
                    "(visibility_timeout=%ss)",
                    done,
                    self.visibility_timeout,
                )
            return int(done)
        finally:
            await state.release_lock(keys=[self.unacked_mutex_key], args=[token])

    async def _restore_item(
        self,
        state: _LoopState,
        tag: str,
        value: bytes,
        queue: str | None,
        cache: dict[tuple[str, str], list[str]],
        uncount: bool = False,
    ) -> list[Any] | None:
        """REQUEUE arguments for one unacked record: tag, expected, payload, uncount, dests."""
        plan = restore_payload(value)
        if plan is None:
            await self._park_unrestorable(state, tag, value)
            return None
        payload, exchange, routing_key, priority = plan
        if queue is not None:
            queues = [queue]
        else:
            queues = await self._lookup(state, exchange, routing_key, cache)
        dests = [self.list_key(q, priority) for q in queues]
        return [tag, value, payload, "1" if uncount else "0", len(dests), *dests]

    async def _park_unrestorable(self, state: _LoopState, tag: str, value: bytes) -> None:
        await state.dead_letter(
            keys=self._dead_letter_keys(),
            args=[
                tag,
                "unacked record is not [envelope, exchange, routing_key]",
                repr(time.time()),
                value,
                "",
                "",
                "",
                DEAD_LETTER_MAXLEN,
                0,
            ],
        )

    async def _lookup(
        self,
        state: _LoopState,
        exchange: str,
        routing_key: str,
        cache: dict[tuple[str, str], list[str]],
    ) -> list[str]:
        """Queues a message published to (exchange, routing_key) goes to (kombu's ``_lookup``)."""
        if not exchange:
            return [routing_key]
        key = (exchange, routing_key)
        if key in cache:
            return cache[key]
        members = await state.client.smembers(f"{self.prefix}_kombu.binding.{exchange}")
        queues: list[str] = []
        for raw in members:
            parts = _text(raw).split(self.sep)
            if len(parts) != 3:
                continue
            bound_key, pattern, queue = parts
            if pattern:
                try:
                    matched = re.match(pattern, routing_key) is not None
                except re.error:
                    matched = False
            else:
                matched = bound_key == routing_key
            if matched and queue not in queues:
                queues.append(queue)
        cache[key] = queues or [routing_key]
        return cache[key]

    def _requeue_keys(self) -> list[str]:
        return [
            self.unacked_key,
            self.unacked_index_key,
            self.deliveries_key,
            self.owners_key,
            self.raw_unacked_key,
            self.raw_index_key,
        ]

    def _dead_letter_keys(self) -> list[str]:
        return [
            self.unacked_key,
            self.unacked_index_key,
            self.deliveries_key,
            self.owners_key,
            self.dead_letters_key,
            self.raw_unacked_key,
            self.raw_index_key,
        ]

    # -- settling ------------------------------------------------------------------------
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Forget settled messages: one ACK script call (HDEL/ZREM) for the whole batch."""
        if not deliveries:
            return
        tags = [d.tag for d in deliveries]
        state = self._loop_state()
        keys = self._requeue_keys()

        async def run() -> None:
            for start in range(0, len(tags), 1000):
                await state.ack(keys=keys, args=tags[start : start + 1000])

        await self._retrying("ack", run)
        self._held.difference_update(tags)

    async def requeue(self, deliveries: Sequence[Delivery], *, count: bool = False) -> None:
        """Put leased messages back at the front of their queue (see :meth:`Transport.requeue`)."""
        if not deliveries:
            return
        state = self._loop_state()
        await self._retrying("requeue", lambda: self._requeue(state, deliveries, count=count))

    async def _requeue(
        self, state: _LoopState, deliveries: Sequence[Delivery], *, count: bool
    ) -> int:
        tags = [d.tag for d in deliveries]
        envelope_tags = [t for t in tags if not t.startswith(scripts.RAW_TAG_PREFIX)]
        values = await state.client.hmget(self.unacked_key, envelope_tags) if envelope_tags else []
        by_tag = dict(zip(envelope_tags, values, strict=True))
        items: list[list[Any]] = []
        cache: dict[tuple[str, str], list[str]] = {}
        # Reversed: the first delivery is pushed last, so it is the next one out.
        for delivery in reversed(deliveries):
            if delivery.tag.startswith(scripts.RAW_TAG_PREFIX):
                items.append([delivery.tag, "", "", "0" if count else "1", 0])
                continue
            value = by_tag.get(delivery.tag)
            if value is None:
                continue
            item = await self._restore_item(
                state, delivery.tag, value, delivery.queue, cache, uncount=not count
            )
            if item:
                items.append(item)
        done = 0
        if items:
            done = int(
                await state.requeue(
                    keys=self._requeue_keys(), args=[self.consumer_id, "", *_flatten(items)]
                )
            )
        self._held.difference_update(tags)
        if done:
            self._poke(state)
        return done

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message in ``celeriac.dead_letters`` with a reason, and drop its lease."""
        if delivery.raw is not None:
            raw = delivery.raw
        elif delivery.message is not None:
            raw = dumps_envelope(delivery.message)
        else:
            raw = b""
        task_id, task_name = _task_of(raw, delivery.message)
        state = self._loop_state()
        args = [
            delivery.tag,
            reason,
            repr(time.time()),
            raw,
            task_id,
            task_name,
            delivery.queue,
            DEAD_LETTER_MAXLEN,
            delivery.delivery_count,
        ]
        await self._retrying(
            "dead_letter", lambda: state.dead_letter(keys=self._dead_letter_keys(), args=args)
        )
        self._held.discard(delivery.tag)

    async def defer(self, delivery: Delivery, eta: float) -> bool:
        """Move a leased message to its queue's ETA set until ``eta`` (uncounted).

        LEASE moves it back to the front of its list when due, for any consumer,
        Celery's included.
        """
        if delivery.tag.startswith(scripts.RAW_TAG_PREFIX):
            return False
        state = self._loop_state()
        keys = [
            self.unacked_key,
            self.unacked_index_key,
            self.deliveries_key,
            self.owners_key,
            self.eta_key(delivery.queue),
        ]
        args = [delivery.tag, repr(eta), self.consumer_id]
        done = await self._retrying("defer", lambda: state.defer(keys=keys, args=args))
        if done:
            self._held.discard(delivery.tag)
        return bool(done)

    def _queue_renewals(self, pipe: Any, deliveries: Sequence[Delivery]) -> None:
        """Queue the ``ZADD XX`` that moves the leases' scores to now on a pipeline."""
        now = time.time()
        scores = {d.tag: now + n * 1e-6 for n, d in enumerate(deliveries)}
        envelope = {t: s for t, s in scores.items() if not t.startswith(scripts.RAW_TAG_PREFIX)}
        raw = {t: s for t, s in scores.items() if t.startswith(scripts.RAW_TAG_PREFIX)}
        if envelope:
            pipe.zadd(self.unacked_index_key, envelope, xx=True)
        if raw:
            pipe.zadd(self.raw_index_key, raw, xx=True)

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Move the leases' ``unacked_index`` scores to now (``ZADD XX``): not expired yet."""
        if not deliveries:
            return
        state = self._loop_state()

        async def run() -> None:
            async with state.client.pipeline(transaction=False) as pipe:
                self._queue_renewals(pipe, deliveries)
                await pipe.execute()

        await self._retrying("renew", run)

    renews_blocking = True

    def renew_blocking(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`renew` on the producer-side (sync) client, for a watchdog thread."""
        if not deliveries:
            return

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=False) as pipe:
                self._queue_renewals(pipe, deliveries)
                pipe.execute()

        self._sync_call("renew", run)

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease of a dead consumer, and its inflight lists; return how many.

        When ``running`` is given, leases not named in it go back uncounted.
        """
        state = self._loop_state()

        async def run() -> int:
            owned = await self._owned_by(state, consumer_id)
            uncounted = set() if running is None else {t for t in owned if t not in running}
            done = await self._give_back_tags(state, owned, consumer_id, uncounted)
            members = [
                _text(m)
                for m in await state.client.zrange(self.registry_key, 0, -1)
                if _text(m).startswith(consumer_id + self.sep)
            ]
            if members:
                done += int(
                    await state.return_inflight(
                        keys=[self.registry_key],
                        args=[self.prefix, self.sep, "drop", *members],
                    )
                )
            return done

        done = await self._retrying("recover", run)
        if done:
            self._poke(state)
        return done

    async def _owned_by(self, state: _LoopState, consumer_id: str) -> list[str]:
        """Tags leased to ``consumer_id``, oldest delivery first."""
        tags = []
        owner = consumer_id.encode()
        async for tag, holder in state.client.hscan_iter(self.owners_key, count=1000):
            if holder == owner:
                tags.append(_text(tag))
        if not tags:
            return []
        async with state.client.pipeline(transaction=False) as pipe:
            for tag in tags:
                index = (
                    self.raw_index_key
                    if tag.startswith(scripts.RAW_TAG_PREFIX)
                    else self.unacked_index_key
                )
                pipe.zscore(index, tag)
            scores = await pipe.execute()
        order = sorted(zip(scores, tags, strict=True), key=lambda p: (p[0] or 0.0, p[1]))
        return [tag for _, tag in order]

    async def _give_back_tags(
        self, state: _LoopState, tags: list[str], owner: str, uncounted: set[str]
    ) -> int:
        if not tags:
            return 0
        envelope_tags = [t for t in tags if not t.startswith(scripts.RAW_TAG_PREFIX)]
        values = await state.client.hmget(self.unacked_key, envelope_tags) if envelope_tags else []
        by_tag = dict(zip(envelope_tags, values, strict=True))
        cache: dict[tuple[str, str], list[str]] = {}
        items: list[list[Any]] = []
        for tag in reversed(tags):
            if tag.startswith(scripts.RAW_TAG_PREFIX):
                items.append([tag, "", "", "1" if tag in uncounted else "0", 0])
                continue
            value = by_tag.get(tag)
            if value is not None:
                item = await self._restore_item(
                    state, tag, value, None, cache, uncount=tag in uncounted
                )
                if item:
                    items.append(item)
        if not items:
            return 0
        return int(
            await state.requeue(keys=self._requeue_keys(), args=[owner, "", *_flatten(items)])
        )

    # -- admin ----------------------------------------------------------------------------
    def _queue_keys(self, queue: str) -> list[str]:
        return [
            f"{self.prefix}{queue}{self.sep}{s}" if s else f"{self.prefix}{queue}"
            for s in self.priority_steps
        ]

    def queue_length(self, queue: str) -> int:
        """Messages waiting in ``queue``: its priority lists plus its ETA set."""

        def run(client: redis.Redis) -> int:
            with client.pipeline(transaction=False) as pipe:
                for key in self._queue_keys(queue):
                    pipe.llen(key)
                pipe.zcard(self.eta_key(queue))
                return sum(int(n) for n in pipe.execute())

        return self._sync_call("queue_length", run)

    def purge(self, queue: str) -> int:
        """Delete every waiting message of ``queue`` (lists and ETA set); return how many."""

        def run(client: redis.Redis) -> int:
            keys = [*self._queue_keys(queue), self.eta_key(queue)]
            with client.pipeline(transaction=True) as pipe:
                for key in keys[:-1]:
                    pipe.llen(key)
                pipe.zcard(keys[-1])
                pipe.delete(*keys)
                return sum(int(n) for n in pipe.execute()[:-1])

        return self._sync_call("purge", run)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters from the ``celeriac.dead_letters`` stream, newest last."""
        if limit <= 0:
            return []
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]],
            self._sync_call(
                "dead_letters",
                lambda client: client.xrevrange(self.dead_letters_key, count=limit),
            ),
        )
        out = []
        for _id, fields in reversed(entries):
            data: dict[str, bytes] = {_text(k): v for k, v in fields.items()}
            out.append(
                DeadLetter(
                    queue=_text(data.get("queue", b"")),
                    reason=_text(data.get("reason", b"")),
                    raw=bytes(data.get("payload", b"")),
                    created_at=float(data.get("created_at", 0) or 0),
                    task_id=_text(data["task_id"]) if data.get("task_id") else None,
                    task_name=_text(data["task_name"]) if data.get("task_name") else None,
                )
            )
        return out

    # -- cluster-wide rate limits (transports/redis_ratelimit.py) ------------------------
    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key`` with one script (see :meth:`Transport.acquire_rate`).

        The key lives under ``global_keyprefix``; the server's clock decides.
        """
        state = self._loop_state()
        cached = getattr(self, "_rate_script", None)
        if cached is None or cached[0] is not state.client:
            cached = (state.client, state.client.register_script(redis_ratelimit.RESERVE))
            self._rate_script = cached
        script = cached[1]
        redis_key = redis_ratelimit.rate_key(self.prefix, self.sep, key)
        reply = await self._retrying(
            "acquire_rate", lambda: script(keys=[redis_key], args=[1.0 / rate, max(1, burst)])
        )
        return redis_ratelimit.parse_wait(reply)

    def close(self) -> None:
        """Close this process's producer connections."""
        client, self._sync_client = self._sync_client, None
        if client is not None and self._sync_pid == os.getpid():
            client.close()
            for conn in list(self._pusher_conns):
                conn.disconnect()
            self._pusher_conns = weakref.WeakSet()
            self._pushers = threading.local()


def _flatten(items: list[list[Any]]) -> Iterator[Any]:
    for item in items:
        yield from item
