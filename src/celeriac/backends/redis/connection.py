"""The Redis result backend's core: keys, clients (sync and per event loop), and retries.

Connection errors are retried with backoff (``retry_policy`` in the transport options:
``max_retries`` 20, ``interval_start`` 0, ``interval_step`` 1, ``interval_max`` 1 s,
Celery's defaults); each outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
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
from redis.commands.core import AsyncScript

from celeriac.backends.base import Backend, BackendOptions
from celeriac.backends.redis import scripts
from celeriac.backends.redis.options import RedisResultOptions
from celeriac.exceptions import BackendError, ImproperlyConfigured
from celeriac.utils.log import own_logger
from celeriac.utils.process import current_pid
from celeriac.utils.redis_url import (
    RedisTarget,
    connection_class,
    pool_kwargs,
    redacted_url,
    sentinel_master_kwargs,
)

__all__ = [
    "CONNECTION_ERRORS",
    "AsyncState",
    "RedisResultConnection",
    "Subscription",
    "ThreadPubSub",
]

logger = own_logger(__name__)

T = TypeVar("T")

#: Failures that mean "the result backend cannot be reached right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,
    OSError,
)


class ThreadPubSub(threading.local):
    """Each thread's pub/sub connection for sync waits (kept across waits)."""

    pubsub: redis.client.PubSub | None = None


@dataclass(slots=True, eq=False)
class Subscription:
    """Coroutines waiting for one channel."""

    futures: set[asyncio.Future[bytes | None]] = field(default_factory=set)


@dataclass(slots=True, eq=False)
class AsyncState:
    """One event loop's client, and its shared pub/sub reader."""

    loop: asyncio.AbstractEventLoop
    client: redis.asyncio.Redis
    store: AsyncScript
    pubsub: redis.asyncio.client.PubSub | None = None
    reader: asyncio.Task[None] | None = None
    channels: dict[str, Subscription] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RedisResultConnection(Backend):
    """A Redis server (or Sentinel master) as a result store: what every part shares.

    Attributes:
        config: the options, parsed once.
        target: where the URL points.
    """

    schemes = ("redis", "rediss", "redis+socket", "sentinel")
    crosses_processes = True
    supports_result_compression = True

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self.config = RedisResultOptions.parse(url, self.options)
        if self.compression and self.config.decode_responses:
            warnings.warn(
                "The Redis result backend decodes responses (decode_responses): "
                "result_compression is ignored and results are stored uncompressed.",
                UserWarning,
                stacklevel=2,
            )
            self.compression = None
        self.target: RedisTarget = self.config.target
        self.task_keyprefix = self.config.task_keyprefix
        self.group_keyprefix = self.config.group_keyprefix
        self._sync_client: redis.Redis | None = None
        self._sync_pid = 0
        self._sync_lock = threading.Lock()
        self._local = ThreadPubSub()
        self._async: AsyncState | None = None
        self._down_since: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redacted_url(self.url)!r}>"

    @property
    def _conn_kwargs(self) -> Mapping[str, Any]:
        return self.config.conn_kwargs

    # -- keys -------------------------------------------------------------------------
    def task_key(self, task_id: str) -> str:
        """The key (and pub/sub channel) of a task's result."""
        return self.task_keyprefix + task_id

    def group_key(self, group_id: str) -> str:
        """The key of a saved group result."""
        return self.group_keyprefix + group_id

    def get_key_for_task(self, task_id: str, key: str = "") -> str:
        """Celery's name: the key of a task's result (``key`` appended)."""
        return self.task_key(task_id) + key

    def get_key_for_group(self, group_id: str, key: str = "") -> str:
        """Celery's name: the key of a group (``.j``, ``.s``, ``.t``, ``.d`` for its chord)."""
        return self.group_key(group_id) + key

    @property
    def client(self) -> redis.Redis:
        """This process's synchronous Redis client (Celery's ``backend.client``)."""
        return self._sync()

    # -- clients ----------------------------------------------------------------------
    def _sentinel_master(self, module: Any, redis_class: type[T]) -> T:
        """The master's client through a Sentinel manager of ``module`` (sync or asyncio)."""
        master = self.config.master_name
        if not master:
            raise ImproperlyConfigured(
                "a sentinel:// result backend needs "
                "result_backend_transport_options={'master_name': ...}"
            )
        manager = module.Sentinel(
            list(self.target.sentinels),
            sentinel_kwargs=self.config.sentinel_kwargs,
            **sentinel_master_kwargs(self.config.conn_kwargs),
        )
        client: T = manager.master_for(master, redis_class=redis_class)
        return client

    def _sync(self) -> redis.Redis:
        client = self._sync_client
        if client is None or self._sync_pid != current_pid():
            with self._sync_lock:
                client = self._sync_client
                if client is None or self._sync_pid != current_pid():
                    client = self._sync_client = self._new_sync_client()
                    self._sync_pid = current_pid()
                    self._local = ThreadPubSub()
        return client

    def _new_sync_client(self) -> redis.Redis:
        if self.target.kind == "sentinel":
            return self._sentinel_master(redis.sentinel, redis.Redis)
        retry = redis.retry.Retry(redis.backoff.NoBackoff(), 1)
        pool = redis.connection.ConnectionPool(
            connection_class=connection_class(self.config.conn_kwargs, redis.connection),
            max_connections=max(self.config.max_connections, 4) * 4,
            retry=retry,
            **pool_kwargs(self.config.conn_kwargs),
        )
        return redis.Redis(connection_pool=pool)

    def _async_state(self) -> AsyncState:
        loop = asyncio.get_running_loop()
        state = self._async
        if state is None or state.loop is not loop:
            client = self._new_async_client()
            state = self._async = AsyncState(loop, client, client.register_script(scripts.STORE))
        return state

    def _new_async_client(self) -> redis.asyncio.Redis:
        if self.target.kind == "sentinel":
            return self._sentinel_master(redis.asyncio.sentinel, redis.asyncio.Redis)
        retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)
        pool = redis.asyncio.BlockingConnectionPool(
            connection_class=connection_class(self.config.conn_kwargs, redis.asyncio.connection),
            max_connections=max(self.config.max_connections, 4),
            timeout=None,
            retry=retry,
            **pool_kwargs(self.config.conn_kwargs),
        )
        return redis.asyncio.Redis(connection_pool=pool)

    # -- retries ----------------------------------------------------------------------
    def _lost(self, exc: BaseException, delay: float) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning(
                "Cannot reach the Redis result backend at %s: %s; retrying",
                redacted_url(self.url),
                exc,
            )
        else:
            logger.debug("Redis result backend still unreachable (%r); retry in %.1fs", exc, delay)

    def _back(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Reconnected to the Redis result backend at %s after %.1fs",
                redacted_url(self.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _call(self, what: str, func: Callable[[redis.Redis], T]) -> T:
        """Run a command on the sync client, retrying connection errors per the policy."""
        delays = iter(self.config.retry_delays)
        while True:
            try:
                result = func(self._sync())
            except CONNECTION_ERRORS as exc:
                delay = next(delays, None)
                if delay is None:
                    raise BackendError(
                        f"{what} failed: Redis result backend unreachable: {exc}"
                    ) from exc
                self._lost(exc, delay)
                time.sleep(delay)
                continue
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{what} failed on the Redis result backend: {exc}") from exc
            self._back()
            return result

    async def _acall(self, what: str, func: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        """Async twin of :meth:`_call`, on this loop's client."""
        delays = iter(self.config.retry_delays)
        while True:
            state = self._async_state()
            try:
                result = await func(state.client)
            except CONNECTION_ERRORS as exc:
                delay = next(delays, None)
                if delay is None:
                    raise BackendError(
                        f"{what} failed: Redis result backend unreachable: {exc}"
                    ) from exc
                self._lost(exc, delay)
                await asyncio.sleep(delay)
                continue
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{what} failed on the Redis result backend: {exc}") from exc
            self._back()
            return result

    def close(self) -> None:
        """Close this process's connections (they reopen on next use)."""
        client, self._sync_client = self._sync_client, None
        if client is not None and self._sync_pid == current_pid():
            client.close()
