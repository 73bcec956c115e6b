"""The Redis transport's core: options, clients (sync and per event loop), and backoff.

Connection errors: a fetch keeps trying with exponential backoff and jitter (one log line
when the broker is lost, one when it is back) and returns ``[]`` at its deadline, so a
worker rides out a Redis restart. Consumer-side writes (ack, renew …) retry for up to
``connection_retry_window`` (60 s). Producers get :class:`BrokerError` at once (redis-py
retries a stale pooled connection twice first); the app's ``retry_policy`` decides.

The other modules of this package extend :class:`RedisConnection` with one concept each.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.connection
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.client
import redis.connection
import redis.exceptions
import redis.retry
import redis.sentinel

from celeriac.exceptions import BrokerError, ImproperlyConfigured
from celeriac.transports.base import Transport, TransportOptions
from celeriac.transports.redis import scripts
from celeriac.transports.redis.keys import RedisKeys
from celeriac.transports.redis.options import RedisOptions
from celeriac.transports.redis.state import LoopState
from celeriac.utils.log import own_logger
from celeriac.utils.redis_url import (
    RedisTarget,
    connection_class,
    pool_kwargs,
    redacted_url,
    sentinel_master_kwargs,
)

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "CONNECTION_ERRORS",
    "Backoff",
    "Pipeline",
    "RedisConnection",
]

logger = own_logger(__name__)

T = TypeVar("T")

#: A pipeline of either client (publishing and renewal queue the same commands on both).
Pipeline = redis.client.Pipeline | redis.asyncio.client.Pipeline

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


class Backoff:
    """When the broker was lost and when to try again: exponential, with jitter.

    An outage is logged twice: once when it starts, once when the broker is back.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        #: monotonic time the broker was lost (None: it is up)
        self.down_since: float | None = None
        #: monotonic time of the next attempt
        self.retry_at = 0.0
        self.delay = BACKOFF_START

    def lost(self, exc: BaseException) -> None:
        """Record a failed attempt and schedule the next one."""
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            self.delay = BACKOFF_START
            logger.warning(
                "Cannot reach the Redis broker at %s: %s; retrying with backoff",
                redacted_url(self.url),
                exc or type(exc).__name__,
            )
        else:
            self.delay = min(self.delay * 2, BACKOFF_MAX)
            logger.debug("Redis broker still unreachable: %r", exc)
        self.retry_at = now + self.delay * random.uniform(0.5, 1.5)

    def restored(self) -> None:
        """Record a success (logs the end of an outage)."""
        if self.down_since is not None:
            logger.warning(
                "Reconnected to the Redis broker at %s after %.1fs",
                redacted_url(self.url),
                time.monotonic() - self.down_since,
            )
            self.down_since = None
            self.delay = BACKOFF_START


class RedisConnection(Transport):
    """A Redis server (or Sentinel master) as a broker: what every part of the transport shares.

    Attributes:
        config: the options, parsed once.
        keys: every key name (``config.keys``).
        target: where the URL points.
    """

    schemes = ("redis", "rediss", "redis+socket", "sentinel")
    crosses_processes = True

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        self.config = RedisOptions.parse(url, self.options)
        self.keys: RedisKeys = self.config.keys
        self.target: RedisTarget = self.config.target
        self._token = uuid.uuid4().hex[:12]
        self._owner_pid = 0
        self._owner = ""
        self._sync_client: redis.Redis | None = None
        self._sync_pid = 0
        self._state: LoopState | None = None
        #: tags handed out by fetch and not settled since (to reclaim orphans)
        self._held: set[str] = set()
        #: a LEASE's reply was lost: what it leased may be ours without our knowing
        self._orphans_possible = False
        self._backoff = Backoff(url)
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

    # -- what the layout and the options say -----------------------------------------------
    @property
    def prefix(self) -> str:
        """``global_keyprefix``."""
        return self.keys.prefix

    @property
    def sep(self) -> str:
        """kombu's separator between a queue name and its priority step."""
        return self.keys.sep

    @property
    def visibility_timeout(self) -> float:
        """Seconds before an unrenewed lease is restored."""
        return self.config.visibility_timeout

    @property
    def _conn_kwargs(self) -> Mapping[str, Any]:
        return self.config.conn_kwargs

    def list_key(self, queue: str, priority: int = 0) -> str:
        """The (prefixed) list a message of ``priority`` goes to, as kombu's ``_q_for_pri``."""
        return self.keys.list_key(queue, priority)

    def eta_key(self, queue: str) -> str:
        """The sorted set holding ``queue``'s messages that wait for their ETA."""
        return self.keys.eta(queue)

    # -- clients -------------------------------------------------------------------------
    def _master_name(self) -> str:
        master = self.config.master_name
        if not master:
            raise ImproperlyConfigured(
                "a sentinel:// broker needs broker_transport_options={'master_name': ...}"
            )
        return master

    def _sentinel(self, module: Any) -> Any:
        """A Sentinel manager from ``module`` (``redis.sentinel`` or its asyncio twin)."""
        return module.Sentinel(
            list(self.target.sentinels),
            sentinel_kwargs=self.config.sentinel_kwargs,
            **sentinel_master_kwargs(self.config.conn_kwargs),
        )

    def _sync(self) -> redis.Redis:
        """The producer-side client of this process (re-created after ``fork``)."""
        client = self._sync_client
        if client is None or self._sync_pid != os.getpid():
            client = self._sync_client = self._new_sync_client()
            self._sync_pid = os.getpid()
        return client

    def _new_sync_client(self) -> redis.Redis:
        retry = redis.retry.Retry(redis.backoff.ExponentialBackoff(cap=0.2, base=0.01), 2)
        if self.target.kind == "sentinel":
            master = self._master_name()
            client: redis.Redis = self._sentinel(redis.sentinel).master_for(
                master, redis_class=redis.Redis, retry=retry
            )
            return client
        pool = redis.connection.ConnectionPool(
            connection_class=connection_class(self.config.conn_kwargs, redis.connection),
            max_connections=max(self.config.max_connections, 2),
            retry=retry,
            **pool_kwargs(self.config.conn_kwargs),
        )
        return redis.Redis(connection_pool=pool)

    def _make_state(self, loop: asyncio.AbstractEventLoop) -> LoopState:
        retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)
        sentinel: redis.asyncio.sentinel.Sentinel | None = None
        client: redis.asyncio.Redis
        if self.target.kind == "sentinel":
            master = self._master_name()
            sentinel = self._sentinel(redis.asyncio.sentinel)
            client = sentinel.master_for(master, redis_class=redis.asyncio.Redis, retry=retry)
        else:
            pool = redis.asyncio.BlockingConnectionPool(
                connection_class=connection_class(
                    self.config.conn_kwargs, redis.asyncio.connection
                ),
                max_connections=max(self.config.max_connections, 4),
                timeout=None,
                retry=retry,
                **pool_kwargs(self.config.conn_kwargs),
            )
            client = redis.asyncio.Redis(connection_pool=pool)
        return LoopState(
            loop=loop,
            client=client,
            sentinel=sentinel,
            lease=client.register_script(scripts.LEASE),
            ack=client.register_script(scripts.ACK),
            sweep=client.register_script(scripts.SWEEP),
            return_inflight=client.register_script(scripts.RETURN_INFLIGHT),
            requeue=client.register_script(scripts.REQUEUE),
            dead_letter=client.register_script(scripts.DEAD_LETTER),
            release_mutex=client.register_script(scripts.RELEASE_MUTEX),
            defer=client.register_script(scripts.DEFER),
        )

    def _loop_state(self) -> LoopState:
        """The asyncio clients of the running loop (new ones for a new loop or process)."""
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            state = self._state = self._make_state(loop)
        return state

    def _poke(self, state: LoopState) -> None:
        """Make a fetch waiting on this loop look again now (something came back)."""
        while state.waiters:
            waiter = state.waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result([])
                return

    # -- calls, and what connection errors do to them ---------------------------------------
    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run a consumer-side command, retrying connection errors for ``retry_window``."""
        give_up = time.monotonic() + self.config.retry_window
        backoff = self._backoff
        while True:
            if backoff.down_since is not None:
                await asyncio.sleep(max(0.0, backoff.retry_at - time.monotonic()))
            try:
                result = await call()
            except CONNECTION_ERRORS as exc:
                backoff.lost(exc)
                if time.monotonic() >= give_up:
                    raise BrokerError(f"{what} failed: Redis broker unreachable: {exc}") from exc
                continue
            except redis.exceptions.RedisError as exc:
                raise BrokerError(f"{what} failed: {exc}") from exc
            backoff.restored()
            return result

    def _sync_call(self, what: str, call: Callable[[redis.Redis], T]) -> T:
        """Run a producer-side command on this process's sync client (no retries here)."""
        try:
            return call(self._sync())
        except redis.exceptions.RedisError as exc:
            raise BrokerError(
                f"{what} failed on the Redis broker at {redacted_url(self.url)}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close this process's producer connections."""
        client, self._sync_client = self._sync_client, None
        if client is not None and self._sync_pid == os.getpid():
            client.close()
